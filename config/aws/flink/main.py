"""Per-minute aggregates of firetail's access logs, for Managed Service for Apache Flink.

The job declares two tables and runs aggregate.sql between them:

- `access_log`: the LOGTOJSON COMBINEDAPACHELOG records firetail ships (every field a
  JSON string or null; `response` and `bytes` are strings), plus `event_time`, the
  record's own `datetime` with its offset applied, as the rowtime attribute.
- `aggregates_sink`: one document per new version of a row of the `aggregates` view.

`aggregates` is an updating view (late records update their minute, see aggregate.sql);
the Firehose sink only appends, so `upserts()` sends each row's new versions (inserts
and update-afters; the update-befores and deletes it drops are always followed by a
newer version of the same doc_id, because counts only grow). The aggregates index
applies them by doc_id, newest `requests` wins
(opensearch/ingest-pipeline-aggregates.json).

Connector options are not in the code: they are the `source` and `sink` property groups
of the runtime properties (Managed Service for Apache Flink writes them to
/etc/flink/application_properties.json; locally, application_properties.json next to
this file, or the file named by FIRETAIL_FLINK_PROPERTIES). The same functions declare
a filesystem source in scripts/test-flink, so the query tested is the query deployed.

The connectors come as one uber jar (pom.xml builds it), named by the `jarfile` property
of the `kinesis.analytics.flink.run.options` group: the service puts it on the
classpath. Locally, main.py adds the jar that property names (lib/ next to this file),
or the one FIRETAIL_FLINK_JAR names, to `pipeline.jars`.
"""

import json
import os
import sys

from pyflink.common import Row, RowKind
from pyflink.common.typeinfo import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import EnvironmentSettings, StreamTableEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
MSF_PROPERTIES = "/etc/flink/application_properties.json"
LOCAL_PROPERTIES = os.path.join(HERE, "application_properties.json")
AGGREGATE_SQL = os.path.join(HERE, "aggregate.sql")
RUN_OPTIONS = "kinesis.analytics.flink.run.options"
# What flink-application.json's run options name; the zip holds it at this path.
DEFAULT_JAR = "lib/firetail-flink-connectors.jar"

# The LOGTOJSON COMBINEDAPACHELOG fields, in the order the agent writes them.
SOURCE_FIELDS = ["host", "ident", "authuser", "datetime", "request", "response", "bytes",
                 "referer", "agent"]

# The `aggregates` view's columns and their Flink types.
VIEW_COLUMNS = [
    ("kind", "STRING"),
    ("window_start", "STRING"),
    ("requests", "BIGINT"),
    ("bytes", "BIGINT"),
    ("status_2xx", "INT"),
    ("status_3xx", "INT"),
    ("status_4xx", "INT"),
    ("status_5xx", "INT"),
    ("error_rate", "DOUBLE"),
    ("distinct_clients", "BIGINT"),
    ("item", "STRING"),
    ("rank", "INT"),
    ("doc_id", "STRING"),
]
# The documents the sink writes: the view's rows, one per version.
SINK_COLUMNS = VIEW_COLUMNS

# Apache's %t, e.g. 25/Nov/2026:13:55:36 +0000; the offset is honoured by the parser.
APACHE_TIME_FORMAT = "dd/MMM/yyyy:HH:mm:ss Z"

# Default of the `aggregate` property group's allowed.lateness.seconds: how long a minute
# stays open for late records after its last update (state TTL). Two hours cover an
# outage of up to an hour plus the shipper's buffering, with margin.
DEFAULT_ALLOWED_LATENESS_SECONDS = 7200


def load_properties(path=None):
    """The runtime property groups, as {group id: {key: value}}."""
    if path is None:
        path = os.environ.get("FIRETAIL_FLINK_PROPERTIES")
    if path is None:
        path = MSF_PROPERTIES if os.path.exists(MSF_PROPERTIES) else LOCAL_PROPERTIES
    with open(path, encoding="utf-8") as f:
        groups = json.load(f)
    return {g["PropertyGroupId"]: dict(g["PropertyMap"]) for g in groups}


def sql_string(value):
    return "'" + str(value).replace("'", "''") + "'"


def with_clause(options):
    return ",\n  ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in sorted(options.items()))


def source_ddl(options, table="access_log"):
    """DDL of the source table. `event_time` is a plain column, not a rowtime: minutes are
    grouped by value (late records update them), so no watermark decides anything. Records
    whose time does not parse get the epoch, which aggregate.sql filters out."""
    columns = [f"  `{name}` STRING" for name in SOURCE_FIELDS]
    parsed = f"TO_TIMESTAMP_LTZ(UNIX_TIMESTAMP(`datetime`, {sql_string(APACHE_TIME_FORMAT)}) * 1000, 3)"
    columns.append(
        f"  event_time AS CASE WHEN `datetime` IS NULL THEN TO_TIMESTAMP_LTZ(0, 3) ELSE {parsed} END")
    return f"CREATE TABLE {table} (\n" + ",\n".join(columns) + f"\n) WITH (\n  {with_clause(options)}\n)"


def sink_ddl(options, table="aggregates_sink"):
    columns = ",\n".join(f"  `{name}` {kind}" for name, kind in SINK_COLUMNS)
    return f"CREATE TABLE {table} (\n{columns}\n) WITH (\n  {with_clause(options)}\n)"


def sql_statements(text):
    """aggregate.sql's statements: separated by a semicolon at the end of a line; lines
    starting with -- are comments."""
    statements, current = [], []
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        if line.rstrip().endswith(";"):
            current.append(line.rstrip()[:-1])
            statement = "\n".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
        else:
            current.append(line)
    rest = "\n".join(current).strip()
    if rest:
        statements.append(rest)
    return statements


def connector_jar(props=None):
    """The uber jar to add to pipeline.jars when not on the managed service (which puts
    the `jarfile` of the run options on the classpath itself), or None."""
    explicit = os.environ.get("FIRETAIL_FLINK_JAR")
    if explicit:
        return explicit
    name = ((props or {}).get(RUN_OPTIONS) or {}).get("jarfile", DEFAULT_JAR)
    path = os.path.join(HERE, name)
    return path if os.path.exists(path) else None


def create_environment(streaming=True, props=None, allowed_lateness_seconds=DEFAULT_ALLOWED_LATENESS_SECONDS):
    """A StreamTableEnvironment (the changelog conversion needs the DataStream API)."""
    env = StreamExecutionEnvironment.get_execution_environment()
    settings = (EnvironmentSettings.in_streaming_mode() if streaming
                else EnvironmentSettings.in_batch_mode())
    t_env = StreamTableEnvironment.create(env, environment_settings=settings)
    config = t_env.get_config()
    # Minutes are UTC minutes, and DATE_FORMAT writes UTC with a literal Z.
    config.set("table.local-time-zone", "UTC")
    # The allowed lateness: a minute's state (its counts, its clients, its top lists) is
    # kept until it has had no update for this long, then dropped. A record for a dropped
    # minute starts it afresh with a smaller count, which the aggregates index refuses as
    # an older version (see upserts), so a late record never overwrites a complete row.
    config.set("table.exec.state.ttl", f"{int(allowed_lateness_seconds)} s")
    # Batch updates per key for a few seconds: fewer documents, same final values.
    config.set("table.exec.mini-batch.enabled", "true")
    config.set("table.exec.mini-batch.allow-latency", "5 s")
    config.set("table.exec.mini-batch.size", "5000")
    jar = connector_jar(props)
    if jar and not os.path.exists(MSF_PROPERTIES):
        config.set("pipeline.jars", "file://" + os.path.abspath(jar))
    return env, t_env


def define_aggregates(t_env, source_options, sql_path=AGGREGATE_SQL):
    """Declares `access_log` and runs aggregate.sql, which defines the view `aggregates`."""
    t_env.execute_sql(source_ddl(source_options))
    with open(sql_path, encoding="utf-8") as f:
        for statement in sql_statements(f.read()):
            t_env.execute_sql(statement)


def _type_info(kind):
    return {"STRING": Types.STRING(), "BIGINT": Types.LONG(), "INT": Types.INT(),
            "DOUBLE": Types.DOUBLE()}[kind]


def upserts(t_env, table):
    """The newest versions of `table`'s rows, as an insert-only table for the Firehose sink.

    Counts only grow, so every update-before or delete of a doc_id is followed by a newer
    version of it (a top-10 slot is refilled when its item moves): dropping them loses
    nothing. The aggregates index's ingest pipeline writes each document under its doc_id
    with `requests` as an external version (never decreasing for a doc_id while its minute
    is held), so a stale or replayed version cannot overwrite a newer one."""
    names = [name for name, _ in SINK_COLUMNS]
    types = [_type_info(kind) for _, kind in SINK_COLUMNS]
    changes = t_env.to_changelog_stream(table)
    newest = changes.filter(lambda row: row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER))
    # A fresh Row is an INSERT: the sink accepts nothing else.
    inserts = newest.map(lambda row: Row(*list(row)), output_type=Types.ROW_NAMED(names, types))
    return t_env.from_data_stream(inserts)


def main():
    props = load_properties()
    tuning = props.get("aggregate", {})
    lateness = int(tuning.get("allowed.lateness.seconds", DEFAULT_ALLOWED_LATENESS_SECONDS))
    _, t_env = create_environment(streaming=True, props=props, allowed_lateness_seconds=lateness)
    define_aggregates(t_env, props["source"])
    t_env.execute_sql(sink_ddl(props["sink"]))
    result = upserts(t_env, t_env.from_path("aggregates")).execute_insert("aggregates_sink")
    # The managed service keeps the submitted job running; a local run waits for it.
    if not os.path.exists(MSF_PROPERTIES):
        result.wait()


if __name__ == "__main__":
    sys.exit(main())
