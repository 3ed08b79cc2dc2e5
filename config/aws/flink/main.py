"""Per-minute aggregates of firetail's access logs, for Managed Service for Apache Flink.

The job declares two tables and runs aggregate.sql between them:

- `access_log`: the LOGTOJSON COMBINEDAPACHELOG records firetail ships (every field a
  JSON string or null; `response` and `bytes` are strings), plus `event_time`, the
  record's own `datetime` with its offset applied, as the rowtime attribute.
- `aggregates_sink`: the rows of the `aggregates` view aggregate.sql defines.

Connector options are not in the code: they are the `source` and `sink` property groups
of the runtime properties (Managed Service for Apache Flink writes them to
/etc/flink/application_properties.json; locally, application_properties.json next to
this file, or the file named by FIRETAIL_FLINK_PROPERTIES). The same functions declare
a filesystem source in scripts/test-flink, so the query tested is the query deployed.

Connector jars (Kinesis source, Firehose sink) go in lib/ next to this file; every jar
found there is added to `pipeline.jars`.
"""

import glob
import json
import os
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
MSF_PROPERTIES = "/etc/flink/application_properties.json"
LOCAL_PROPERTIES = os.path.join(HERE, "application_properties.json")
AGGREGATE_SQL = os.path.join(HERE, "aggregate.sql")

# The LOGTOJSON COMBINEDAPACHELOG fields, in the order the agent writes them.
SOURCE_FIELDS = ["host", "ident", "authuser", "datetime", "request", "response", "bytes",
                 "referer", "agent"]

# The `aggregates` view's columns and their Flink types.
SINK_COLUMNS = [
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
]

# Apache's %t, e.g. 25/Nov/2026:13:55:36 +0000; the offset is honoured by the parser.
APACHE_TIME_FORMAT = "dd/MMM/yyyy:HH:mm:ss Z"


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


def source_ddl(options, watermark_delay_seconds=30, table="access_log"):
    """DDL of the source table; records whose time does not parse get the epoch, so the
    watermark drops them as late instead of failing the job on a null rowtime."""
    columns = [f"  `{name}` STRING" for name in SOURCE_FIELDS]
    parsed = f"TO_TIMESTAMP_LTZ(UNIX_TIMESTAMP(`datetime`, {sql_string(APACHE_TIME_FORMAT)}) * 1000, 3)"
    columns.append(
        f"  event_time AS CASE WHEN `datetime` IS NULL THEN TO_TIMESTAMP_LTZ(0, 3) ELSE {parsed} END")
    columns.append(
        f"  WATERMARK FOR event_time AS event_time - INTERVAL '{int(watermark_delay_seconds)}' SECOND")
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


def create_environment(streaming=True):
    settings = (EnvironmentSettings.in_streaming_mode() if streaming
                else EnvironmentSettings.in_batch_mode())
    t_env = TableEnvironment.create(settings)
    config = t_env.get_config()
    # Windows start on UTC minutes, and DATE_FORMAT writes UTC with a literal Z.
    config.set("table.local-time-zone", "UTC")
    jars = sorted(glob.glob(os.path.join(HERE, "lib", "*.jar")))
    if jars:
        config.set("pipeline.jars", ";".join("file://" + j for j in jars))
    return t_env


def define_aggregates(t_env, source_options, watermark_delay_seconds=30, sql_path=AGGREGATE_SQL):
    """Declares `access_log` and runs aggregate.sql, which defines the view `aggregates`."""
    t_env.execute_sql(source_ddl(source_options, watermark_delay_seconds))
    with open(sql_path, encoding="utf-8") as f:
        for statement in sql_statements(f.read()):
            t_env.execute_sql(statement)


def main():
    props = load_properties()
    tuning = props.get("aggregate", {})
    t_env = create_environment(streaming=True)
    define_aggregates(t_env, props["source"], int(tuning.get("watermark.delay.seconds", "30")))
    t_env.execute_sql(sink_ddl(props["sink"]))
    result = t_env.execute_sql("INSERT INTO aggregates_sink SELECT * FROM aggregates")
    # The managed service keeps the submitted job running; a local run waits for it.
    if not os.path.exists(MSF_PROPERTIES):
        result.wait()


if __name__ == "__main__":
    sys.exit(main())
