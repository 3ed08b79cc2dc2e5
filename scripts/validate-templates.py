#!/usr/bin/env python3
"""Validates the pipeline templates in config/aws against what will consume them.

Renders every template with the manifest's test values (the same rules as
`firetail setup render`), then checks:

- each `--cli-input-json` file against botocore's model of its operation: required
  members, unknown members and types (botocore's ParamValidator), and the constraints it
  does not check (enum, min/max length or value, pattern), walking the shape itself;
- each IAM/resource policy: Version, Statement, Effect, Action (known services' actions
  exist in botocore), Resource/Principal, ARN syntax; inlined policies parse;
- the KDA SQL input schema maps only LOGTOJSON COMBINEDAPACHELOG fields, as VARCHARs;
- the OpenSearch index templates name only fields the raw records and the aggregates
  contain, with types their values index as, and date formats that parse them;
- the aggregate columns agree across the KDA SQL, the Flink job and the mapping;
- the dashboards' saved objects reference objects and fields that exist;
- every log group a Firehose logs to is inside its role's logs:PutLogEvents resources;
- trust policies only condition on keys their service principal sends;
- the KDA SQL uses no construct its streaming dialect forbids (COUNT(DISTINCT) in a
  streaming GROUP BY, a GROUP BY without a ROWTIME-based step);
- every example agent.json is classified in the manifest, and a pipeline example names
  only streams a template creates;
- CIDR placeholders refuse 0.0.0.0/0 and malformed networks; the domain policy lets the
  unsigned network read and search, never write;
- the raw stream's polling consumers fit its 5 reads per second per shard (Flink uses
  enhanced fan-out); the Flink application names one connector jar; ISM policies and the
  aggregates ingest pipeline are consistent with the index templates.

Usage: validate-templates.py [--templates DIR] [--rendered DIR] [--examples DIR]
  --rendered DIR  a rendering made by `firetail setup render` with the manifest's test
                  values; it must equal this script's rendering byte for byte.
Needs botocore (FIRETAIL_PYTHON from scripts/test has it). Exit status 1 on any problem.
"""

import argparse
import ast
import datetime
import json
import os
import re
import sys

try:
    import botocore.session
    from botocore.validate import ParamValidator
except ImportError:  # pragma: no cover - reported as a problem below
    botocore = None

PLACEHOLDER = re.compile(r"\{\{([A-Za-z][A-Za-z0-9]*)\}\}")
INCLUDE = re.compile(r"\{\{include:([A-Za-z0-9_./-]+)\}\}")
LOGTOJSON_COMBINED_FIELDS = ["host", "ident", "authuser", "datetime", "request", "response", "bytes",
                             "referer", "agent"]
HERE = os.path.dirname(os.path.abspath(__file__))


class Problems(list):
    def add(self, where, message):
        self.append(f"{where}: {message}")


# ---- rendering --------------------------------------------------------------------------

def resolve_values(placeholders, given, problems):
    """Given values plus defaults (which may name other placeholders), checked against
    each placeholder's pattern."""
    values = dict(given)
    for _ in range(len(placeholders) + 1):
        for name, spec in placeholders.items():
            if name in values or "default" not in spec:
                continue
            default = spec["default"]
            names = PLACEHOLDER.findall(default)
            if all(n in values for n in names):
                values[name] = PLACEHOLDER.sub(lambda m: values[m.group(1)], default)
    for name, spec in placeholders.items():
        if name not in values:
            problems.add("manifest.json", f"placeholder {name} has no value and no default")
        elif not re.fullmatch(spec["pattern"], values[name]):
            problems.add("manifest.json", f"{name}={values[name]!r} does not match {spec['pattern']}")
        elif spec.get("check") == "ipv4-cidr-not-open":
            reason = open_or_invalid_cidr(values[name])
            if reason:
                problems.add("manifest.json", f"{name}={values[name]!r}: {reason}")
    return values


def open_or_invalid_cidr(text):
    """Why `text` is not an acceptable IPv4 network for unsigned access, or None (the same
    rule as `firetail setup render`)."""
    m = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})", text)
    if not m:
        return "not an IPv4 CIDR (a.b.c.d/n)"
    octets, prefix = [int(g) for g in m.groups()[:4]], int(m.group(5))
    if any(o > 255 for o in octets) or prefix > 32:
        return "octets go up to 255 and prefixes up to /32"
    if prefix < 8:
        return f"/{prefix} opens the domain to a large part of the internet (at least /8)"
    address = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    if address & ((1 << (32 - prefix)) - 1):
        return "host bits are set (write the network address)"
    return None


def template_files(root):
    out = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            # lib/ and target/ hold the built connector jar (scripts/test-pipeline), not templates.
            skip = ("__pycache__" in rel or rel.startswith("flink/lib/") or rel.startswith("flink/target/"))
            if rel != "manifest.json" and not skip:
                out.append(rel)
    return sorted(out)


def render(root, values, problems):
    first = {}
    for rel in template_files(root):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()

        def fill(m, rel=rel):
            if m.group(1) not in values:
                problems.add(rel, f"unknown placeholder {{{{{m.group(1)}}}}}")
                return m.group(0)
            return values[m.group(1)]
        first[rel] = PLACEHOLDER.sub(fill, text)
    rendered = {}
    for rel, text in first.items():
        def inline(m, rel=rel):
            target = m.group(1)
            if target not in first:
                problems.add(rel, f"include of a missing file {target}")
                return m.group(0)
            body = first[target]
            if INCLUDE.search(body):
                problems.add(rel, f"{target} itself has includes (one level only)")
            if target.endswith(".json"):
                body = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
            return json.dumps(body, ensure_ascii=False)[1:-1]
        rendered[rel] = INCLUDE.sub(inline, text)
        for lineno, line in enumerate(rendered[rel].splitlines(), 1):
            if "{{" in line:
                problems.add(f"{rel}:{lineno}", "unfilled placeholder")
    return rendered


# ---- botocore ---------------------------------------------------------------------------

def check_constraints(shape, value, path, problems, where):
    """enum, min/max and pattern: the parts of the model ParamValidator ignores."""
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                check_constraints(shape.members[key], item, f"{path}.{key}", problems, where)
    elif kind == "list" and isinstance(value, list):
        check_range(meta, len(value), path, "items", problems, where)
        for i, item in enumerate(value):
            check_constraints(shape.member, item, f"{path}[{i}]", problems, where)
    elif kind == "map" and isinstance(value, dict):
        check_range(meta, len(value), path, "entries", problems, where)
        for key, item in value.items():
            check_constraints(shape.key, key, f"{path}<key {key}>", problems, where)
            check_constraints(shape.value, item, f"{path}.{key}", problems, where)
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.add(where, f"{path}={value!r} is not one of {shape.enum}")
        check_range(meta, len(value), path, "characters", problems, where)
        pattern = meta.get("pattern")
        if pattern is not None:
            regex = java_pattern(pattern)
            if regex is None:
                problems.add(where, f"{path}: cannot check the model's pattern {pattern!r}")
            elif not regex.search(value):
                problems.add(where, f"{path}={value!r} does not match the model's pattern {pattern!r}")
    elif kind in ("integer", "long", "double", "float") and isinstance(value, (int, float)):
        check_range(meta, value, path, "", problems, where)


def check_range(meta, n, path, unit, problems, where):
    if "min" in meta and n < meta["min"]:
        problems.add(where, f"{path}: {n} {unit} is below the model's minimum {meta['min']}".replace("  ", " "))
    if "max" in meta and n > meta["max"]:
        problems.add(where, f"{path}: {n} {unit} is above the model's maximum {meta['max']}".replace("  ", " "))


# Java's Unicode classes, spelled as Python set members: exact on ASCII (all that the
# templates hold), a broad superset beyond it.
_JAVA_CLASSES = {
    r"\p{L}": "a-zA-Z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u1fff\u3040-\uffef",
    r"\p{N}": "0-9\u00b2\u00b3\u00b9\u00bc-\u00be\u0660-\u0669",
    r"\p{Z}": " \u00a0\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
}


def java_pattern(pattern):
    """The model's patterns are Java/ECMA regexes; Python needs \\p{...} classes spelled out."""
    text = pattern
    for cls, members in _JAVA_CLASSES.items():
        # Outside a set the class needs brackets of its own; inside it is spliced in.
        text = re.sub(r"(\[[^\]]*)" + re.escape(cls), lambda m: m.group(1) + members, text)
        text = text.replace(cls, "[" + members + "]")
    try:
        return re.compile(text)
    except re.error:
        return None


def validate_cli_inputs(manifest, rendered, problems):
    session = botocore.session.get_session()
    validator = ParamValidator()
    for entry in manifest["cli_inputs"]:
        rel = entry["file"]
        if rel not in rendered:
            problems.add(rel, "listed in the manifest but missing")
            continue
        try:
            params = json.loads(rendered[rel])
        except json.JSONDecodeError as e:
            problems.add(rel, f"not JSON: {e}")
            continue
        model = session.get_service_model(entry["service"]).operation_model(entry["operation"])
        report = validator.validate(params, model.input_shape)
        if report.has_errors():
            for line in report.generate_report().splitlines():
                if line.strip() and not line.startswith("Parameter validation failed"):
                    problems.add(rel, f"{entry['command']}: {line.strip()}")
        check_constraints(model.input_shape, params, "", problems, rel)
        cli = entry["command"].split()
        if len(cli) != 3 or cli[0] != "aws":
            problems.add(rel, f"command {entry['command']!r} is not `aws <service> <operation>`")


# ---- policies ---------------------------------------------------------------------------

ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):[a-z0-9-]+:([a-z0-9-]*):([0-9]{12}|\*|):.+$|^\*$")
# IAM action prefixes whose action names are the API operation names in botocore.
IAM_TO_BOTOCORE = {"firehose": "firehose", "kinesis": "kinesis", "cloudwatch": "cloudwatch", "logs": "logs",
                   "sts": "sts", "kinesisanalytics": "kinesisanalyticsv2"}
KNOWN_PREFIXES = set(IAM_TO_BOTOCORE) | {"s3", "es", "iam"}


def as_list(v):
    return v if isinstance(v, list) else [v]


def validate_policy(rel, doc, kind, problems):
    if not isinstance(doc, dict):
        problems.add(rel, "a policy is a JSON object")
        return
    if doc.get("Version") != "2012-10-17":
        problems.add(rel, "Version must be 2012-10-17")
    statements = doc.get("Statement")
    if not isinstance(statements, (list, dict)) or not statements:
        problems.add(rel, "Statement must be a non-empty list or object")
        return
    session = botocore.session.get_session()
    for i, st in enumerate(as_list(statements)):
        where = f"{rel} Statement[{i}]"
        unknown = set(st) - {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                             "NotResource", "Condition"}
        if unknown:
            problems.add(where, f"unknown keys {sorted(unknown)}")
        if st.get("Effect") not in ("Allow", "Deny"):
            problems.add(where, "Effect must be Allow or Deny")
        actions = st.get("Action", st.get("NotAction"))
        if actions is None:
            problems.add(where, "no Action")
            actions = []
        for action in as_list(actions):
            if not isinstance(action, str) or not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", action):
                problems.add(where, f"malformed action {action!r}")
                continue
            prefix, name = action.split(":")
            if prefix not in KNOWN_PREFIXES:
                problems.add(where, f"unexpected service prefix in {action}")
            elif prefix in IAM_TO_BOTOCORE and "*" not in name:
                ops = session.get_service_model(IAM_TO_BOTOCORE[prefix]).operation_names
                if name not in ops:
                    problems.add(where, f"{action}: {prefix} has no operation {name}")
        if kind in ("trust", "resource"):
            if "Principal" not in st:
                problems.add(where, f"a {kind} policy statement needs a Principal")
        else:
            if "Principal" in st:
                problems.add(where, "an identity policy statement has no Principal")
        if kind in ("identity", "resource"):
            resources = st.get("Resource", st.get("NotResource"))
            if resources is None:
                problems.add(where, "no Resource")
            for r in as_list(resources or []):
                if not isinstance(r, str) or not ARN.match(r):
                    problems.add(where, f"malformed resource ARN {r!r}")
        for p in as_list((st.get("Principal") or {}).get("AWS", []) if isinstance(st.get("Principal"), dict) else []):
            if not ARN.match(p):
                problems.add(where, f"malformed principal {p!r}")


def validate_policies(manifest, rendered, problems):
    for entry in manifest["policies"]:
        rel = entry["file"]
        try:
            validate_policy(rel, json.loads(rendered[rel]), entry["kind"], problems)
        except (KeyError, json.JSONDecodeError) as e:
            problems.add(rel, f"cannot read the policy: {e}")
    # Policies inlined as strings must still parse once the CLI reads them.
    for entry in manifest["cli_inputs"]:
        try:
            params = json.loads(rendered[entry["file"]])
        except (KeyError, json.JSONDecodeError):
            continue
        for key in ("AssumeRolePolicyDocument", "PolicyDocument", "AccessPolicies"):
            if key in params:
                kind = {"AssumeRolePolicyDocument": "trust", "PolicyDocument": "identity"}.get(key, "resource")
                try:
                    validate_policy(f"{entry['file']} {key}", json.loads(params[key]), kind, problems)
                except json.JSONDecodeError as e:
                    problems.add(entry["file"], f"{key} is not a JSON policy: {e}")


# ---- records, schemas, mappings ---------------------------------------------------------

def repo_root():
    return os.path.dirname(HERE)


def sample_records(problems):
    """LOGTOJSON COMBINEDAPACHELOG outputs: the Kinesis Agent's own vectors when the
    shared folder is next to the clone, plus hand-written ones covering nulls, host
    names and offsets."""
    records = [
        {"host": "203.0.113.9", "ident": None, "authuser": None, "datetime": "25/Nov/2026:13:55:36 +0000",
         "request": "GET /index.html HTTP/1.1", "response": "200", "bytes": "5120",
         "referer": "https://www.example.com/", "agent": "Mozilla/5.0"},
        {"host": "crawl-66-249-66-1.googlebot.com", "ident": "ident1", "authuser": "frank",
         "datetime": "01/Feb/2027:00:00:00 -0700", "request": "POST /login?next=%2F HTTP/2.0",
         "response": "503", "bytes": None, "referer": None, "agent": None},
        {"host": "web-01", "ident": None, "authuser": "svc_deploy", "datetime": "9/May/2026:23:59:59 +0530",
         "request": "HEAD / HTTP/1.0", "response": "304", "bytes": "0", "referer": None, "agent": "curl/8.5.0"},
    ]
    directory = repo_root()
    while True:
        vectors = os.path.join(directory, "shared", "vectors", "logtojson_combined_basic", "expected.jsonl")
        if os.path.exists(vectors):
            import base64
            with open(vectors, encoding="utf-8") as f:
                for line in f:
                    case = json.loads(line)
                    if case.get("output_b64"):
                        records.append(json.loads(base64.b64decode(case["output_b64"])))
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for r in records:
        if list(r) != LOGTOJSON_COMBINED_FIELDS:
            problems.add("sample records", f"fields {list(r)} are not the LOGTOJSON COMBINEDAPACHELOG fields")
        for k, v in r.items():
            if v is not None and not isinstance(v, str):
                problems.add("sample records", f"{k}={v!r}: LOGTOJSON writes strings or null only")
    return records


# Java date-time tokens the templates use: a strict shape (java.time's "dd" takes exactly two
# digits, "d" one or two) and the strptime directive that reads the value.
JAVA_TOKENS = [("yyyy", r"\d{4}", "%Y"), ("MMM", r"[A-Z][a-z]{2}", "%b"), ("MM", r"\d{2}", "%m"),
               ("dd", r"\d{2}", "%d"), ("d", r"\d{1,2}", "%d"), ("HH", r"\d{2}", "%H"),
               ("mm", r"\d{2}", "%M"), ("ss", r"\d{2}", "%S"), ("Z", r"[+-]\d{4}", "%z")]


def java_date_format(fmt):
    shape, directives, i = "", "", 0
    while i < len(fmt):
        for token, regex, directive in JAVA_TOKENS:
            if fmt.startswith(token, i):
                shape, directives, i = shape + regex, directives + directive, i + len(token)
                break
        else:
            if fmt[i].isalpha():
                raise ValueError(f"date format token {fmt[i]!r} in {fmt!r} is not supported here")
            shape, directives, i = shape + re.escape(fmt[i]), directives + fmt[i].replace("%", "%%"), i + 1
    return re.compile(shape), directives


ISO_NO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:?\d{2})$")


def parses_as_date(value, formats):
    for fmt in formats.split("||"):
        if fmt == "strict_date_time_no_millis":
            if ISO_NO_MILLIS.match(value):
                return True
        elif fmt in ("strict_date_optional_time", "date_optional_time"):
            try:
                datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
                return True
            except ValueError:
                pass
        elif fmt == "epoch_millis":
            if re.fullmatch(r"-?\d+", value):
                return True
        else:
            shape, directives = java_date_format(fmt)
            try:
                if shape.fullmatch(value):
                    datetime.datetime.strptime(value, directives)
                    return True
            except ValueError:
                pass
    return False


def value_fits(mapping, value):
    """Whether OpenSearch indexes `value` (a JSON value) under `mapping` without a
    mapping error (ignore_malformed counts as fitting)."""
    if value is None:
        return True
    t = mapping.get("type")
    lenient = mapping.get("ignore_malformed", False)
    if t in ("keyword", "text"):
        return isinstance(value, str)
    if t in ("integer", "long", "short"):
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value)):
            return True
        return lenient
    if t in ("double", "float", "scaled_float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "date":
        return isinstance(value, str) and parses_as_date(value, mapping.get("format", "strict_date_optional_time"))
    if t == "ip":
        return lenient or isinstance(value, str)
    return False


def mapping_properties(rendered, rel, problems):
    try:
        body = json.loads(rendered[rel])
        return body["template"]["mappings"]["properties"]
    except (KeyError, json.JSONDecodeError) as e:
        problems.add(rel, f"not an _index_template body with template.mappings.properties: {e}")
        return {}


def check_documents(rel, props, docs, problems):
    for name, mapping in props.items():
        if not any(name in d for d in docs):
            problems.add(rel, f"maps {name}, which no document has")
    for i, doc in enumerate(docs):
        for name, value in doc.items():
            mapping = props.get(name)
            if mapping is None:
                problems.add(rel, f"document {i} field {name} is not mapped")
                continue
            for sub in [mapping] + list(mapping.get("fields", {}).values()):
                if not value_fits(sub, value):
                    problems.add(rel, f"document {i}: {name}={value!r} does not index as {sub}")


def kda_schema(rendered, problems):
    rel = "kda/sql-application.json"
    app = json.loads(rendered[rel])
    columns = app["Inputs"][0]["InputSchema"]["RecordColumns"]
    for c in columns:
        m = re.fullmatch(r"\$\.([A-Za-z_][A-Za-z0-9_]*)", c.get("Mapping", ""))
        if not m or m.group(1) not in LOGTOJSON_COMBINED_FIELDS:
            problems.add(rel, f"column {c['Name']} maps {c.get('Mapping')!r}, not a LOGTOJSON COMBINEDAPACHELOG field")
        # Every LOGTOJSON value is a JSON string or null: VARCHAR, cast in the SQL.
        if not re.fullmatch(r"VARCHAR\(\d+\)", c["SqlType"]):
            problems.add(rel, f"column {c['Name']} is {c['SqlType']}; LOGTOJSON values are strings (use VARCHAR and CAST)")
    fmt = app["Inputs"][0]["InputSchema"]["RecordFormat"]
    if fmt.get("RecordFormatType") != "JSON":
        problems.add(rel, "the input is JSON (LOGTOJSON)")
    code = app.get("ApplicationCode", "")
    for c in columns:
        if f'"{c["Name"]}"' not in code and c["Name"] not in ("ident", "authuser", "referer", "agent"):
            problems.add(rel, f"the SQL never reads column {c['Name']}")
    return code


FLINK_ONLY_COLUMNS = ("rank", "doc_id")
SQL_TO_OPENSEARCH = {"BIGINT": {"long"}, "INT": {"integer", "long"}, "INTEGER": {"integer", "long"},
                     "DOUBLE": {"double"}, "STRING": {"keyword", "date"}, "VARCHAR": {"keyword", "date"}}


def aggregate_columns(templates_root, kda_code, problems):
    """Column name -> SQL type, from the Flink job (SINK_COLUMNS) and the KDA
    destination stream; they must agree."""
    with open(os.path.join(templates_root, "flink", "main.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    flink = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "VIEW_COLUMNS" for t in node.targets):
            flink = dict(ast.literal_eval(node.value))
    if flink is None:
        problems.add("flink/main.py", "no VIEW_COLUMNS")
        flink = {}
    m = re.search(r'CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" \((.*?)\);', kda_code, re.S)
    kda = {}
    if not m:
        problems.add("kda/aggregate.sql", "no DESTINATION_SQL_STREAM")
    else:
        for name, sqltype in re.findall(r'"([a-z0-9_]+)"\s+([A-Z]+)', m.group(1)):
            kda[name] = sqltype
    # The row identity (rank, doc_id) exists only in the Flink shape, whose rows are updated.
    flink_shared = [c for c in flink if c not in FLINK_ONLY_COLUMNS]
    if list(kda) != flink_shared:
        problems.add("kda/aggregate.sql", f"output columns {list(kda)} differ from the Flink job's {flink_shared}")
    for name in set(kda) & set(flink):
        a = "INT" if kda[name] == "INTEGER" else kda[name].replace("VARCHAR", "STRING")
        b = flink[name]
        if (a in ("INT", "BIGINT")) != (b in ("INT", "BIGINT")) or (a == "STRING") != (b == "STRING"):
            problems.add("kda/aggregate.sql", f"{name}: {kda[name]} in KDA, {flink[name]} in Flink")
    return flink


def validate_schemas(templates_root, manifest, rendered, problems):
    records = sample_records(problems)
    raw_rel = next(t["file"] for t in manifest["index_templates"] if t["documents"] == "raw")
    agg_rel = next(t["file"] for t in manifest["index_templates"] if t["documents"] == "aggregates")
    raw_props = mapping_properties(rendered, raw_rel, problems)
    for name in raw_props:
        if name not in LOGTOJSON_COMBINED_FIELDS:
            problems.add(raw_rel, f"maps {name}, not a LOGTOJSON COMBINEDAPACHELOG field")
    check_documents(raw_rel, raw_props, records, problems)

    code = kda_schema(rendered, problems)
    columns = aggregate_columns(templates_root, code, problems)
    agg_props = mapping_properties(rendered, agg_rel, problems)
    if set(agg_props) != set(columns):
        problems.add(agg_rel, f"maps {sorted(agg_props)}; the aggregates have {sorted(columns)}")
    for name, sqltype in columns.items():
        t = agg_props.get(name, {}).get("type")
        if t is not None and t not in SQL_TO_OPENSEARCH.get(sqltype, set()):
            problems.add(agg_rel, f"{name} is {sqltype} in the aggregates but {t} in the mapping")
    # Documents as the jobs write them: window_start from the same DATE_FORMAT pattern.
    window_start = datetime.datetime(2026, 11, 25, 13, 55, tzinfo=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(os.path.join(templates_root, "flink", "aggregate.sql"), encoding="utf-8") as f:
        flink_sql = f.read()
    # The Flink shape formats the record's own time with the seconds written as 00 (the
    # minute); the KDA shape formats the floored minute.
    for sql, rel, fmt in ((flink_sql, "flink/aggregate.sql", "'yyyy-MM-dd''T''HH:mm:00''Z'''"),
                          (code, "kda/aggregate.sql", "'yyyy-MM-dd''T''HH:mm:ss''Z'''")):
        if fmt not in sql:
            problems.add(rel, "window_start is not written as yyyy-MM-ddTHH:mm:ssZ")
    docs = [
        {"kind": "minute", "window_start": window_start, "requests": 653, "bytes": 25900977, "status_2xx": 398,
         "status_3xx": 74, "status_4xx": 126, "status_5xx": 55, "error_rate": 0.2771822358346095,
         "distinct_clients": 43, "item": None, "rank": None, "doc_id": f"minute|{window_start}"},
        {"kind": "top_path", "window_start": window_start, "requests": 120, "bytes": None, "status_2xx": None,
         "status_3xx": None, "status_4xx": None, "status_5xx": None, "error_rate": None,
         "distinct_clients": None, "item": "/index.html", "rank": 1, "doc_id": f"top_path|{window_start}|1"},
    ]
    check_documents(agg_rel, agg_props, docs, problems)
    return raw_props, agg_props


def validate_dashboards(manifest, rendered, raw_props, agg_props, problems):
    rel = manifest["dashboards"]
    objects = {}
    for lineno, line in enumerate(rendered[rel].splitlines(), 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.add(f"{rel}:{lineno}", f"not JSON: {e}")
            continue
        objects[(obj["type"], obj["id"])] = obj
    patterns = {"firetail-raw-*": raw_props, "firetail-aggregates-*": agg_props}
    kinds = {"minute", "top_path", "top_client"}
    for (otype, oid), obj in objects.items():
        for ref in obj.get("references", []):
            if (ref["type"], ref["id"]) not in objects:
                problems.add(rel, f"{oid} references the missing {ref['type']} {ref['id']}")
        attrs = obj["attributes"]
        if otype == "index-pattern":
            props = patterns.get(attrs["title"])
            if props is None:
                problems.add(rel, f"index pattern {attrs['title']} matches no index template")
            elif props.get(attrs.get("timeFieldName"), {}).get("type") != "date":
                problems.add(rel, f"{attrs['title']}: time field {attrs.get('timeFieldName')} is not a date")
        if otype == "visualization":
            state = json.loads(attrs["visState"])
            index = next(r["id"] for r in obj["references"] if r["type"] == "index-pattern")
            title = objects.get(("index-pattern", index), {}).get("attributes", {}).get("title")
            props = patterns.get(title, {})
            for agg in state["aggs"]:
                field = agg.get("params", {}).get("field")
                if field is not None and field not in props:
                    problems.add(rel, f"{oid} aggregates {field}, which {title} does not map")
            query = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
            m = re.fullmatch(r"kind:(\w+)", query)
            if m and m.group(1) not in kinds:
                problems.add(rel, f"{oid} filters on kind {m.group(1)}, which the aggregates never write")
        if otype == "dashboard":
            panels = json.loads(attrs["panelsJSON"])
            names = {r["name"] for r in obj["references"]}
            for p in panels:
                if p.get("panelRefName") not in names:
                    problems.add(rel, f"dashboard panel {p.get('panelIndex')} has no reference")
    if not any(t == "dashboard" for t, _ in objects):
        problems.add(rel, "no dashboard")


def validate_flink_application(rendered, problems):
    rel = "flink/flink-application.json"
    app = json.loads(rendered[rel])
    groups = {g["PropertyGroupId"]: g["PropertyMap"]
              for g in app["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]}
    for needed in ("kinesis.analytics.flink.run.options", "source", "sink"):
        if needed not in groups:
            problems.add(rel, f"no property group {needed}")
    python = groups.get("kinesis.analytics.flink.run.options", {}).get("python")
    if python not in rendered.get("flink/__files__", ()) and f"flink/{python}" not in rendered:
        problems.add(rel, f"runs {python!r}, which is not in config/aws/flink")
    # Managed Service for Apache Flink takes a Python application's Java dependencies from
    # one jar named by `jarfile`; pipeline.jars in the code is not how the service loads them.
    jarfile = groups.get("kinesis.analytics.flink.run.options", {}).get("jarfile")
    pom = rendered.get("flink/pom.xml", "")
    final = re.search(r"<finalName>([^<]+)</finalName>", pom)
    if not jarfile or not jarfile.endswith(".jar") or "," in jarfile or ";" in jarfile:
        problems.add(rel, f"run options jarfile {jarfile!r}: name the one uber jar of the connectors")
    elif not final or os.path.basename(jarfile) != final.group(1) + ".jar":
        problems.add(rel, f"jarfile {jarfile!r} is not what flink/pom.xml builds")
    if "pipeline.jars" in rendered.get("flink/main.py", "") and "MSF_PROPERTIES" not in rendered.get("flink/main.py", ""):
        problems.add("flink/main.py", "sets pipeline.jars on the managed service")
    local = {g["PropertyGroupId"]: g["PropertyMap"] for g in json.loads(rendered["flink/application_properties.json"])}
    for gid in ("source", "sink", "aggregate"):
        if local.get(gid) != groups.get(gid):
            problems.add("flink/application_properties.json", f"group {gid} differs from flink-application.json")


# ---- defects found by running the pipeline as a user would (issue 17) ------------------

def iam_glob(pattern, value):
    """IAM's ARN wildcards: * any run of characters, ? one character."""
    return re.fullmatch("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
                        value) is not None


def role_policies(manifest, rendered):
    """Role name -> its inline identity policies, from the put-role-policy inputs."""
    out = {}
    for entry in manifest["cli_inputs"]:
        if entry["operation"] != "PutRolePolicy":
            continue
        params = json.loads(rendered[entry["file"]])
        out.setdefault(params["RoleName"], []).append(json.loads(params["PolicyDocument"]))
    return out


def allowed(policies, action, resource):
    for doc in policies:
        for st in as_list(doc.get("Statement", [])):
            if st.get("Effect") != "Allow":
                continue
            if not any(iam_glob(a, action) for a in as_list(st.get("Action", []))):
                continue
            if any(iam_glob(r, resource) for r in as_list(st.get("Resource", []))):
                return True
    return False


def logging_options(value):
    """Every CloudWatchLoggingOptions in a request, with the RoleARN beside it."""
    if isinstance(value, dict):
        opts = value.get("CloudWatchLoggingOptions")
        if isinstance(opts, dict) and opts.get("Enabled"):
            yield value.get("RoleARN"), opts
        for item in value.values():
            yield from logging_options(item)
    elif isinstance(value, list):
        for item in value:
            yield from logging_options(item)


def validate_log_groups(manifest, rendered, values, problems):
    """A log group a Firehose logs to must be inside its role's logs resources, or every
    delivery error is silently not logged."""
    policies = role_policies(manifest, rendered)
    for entry in manifest["cli_inputs"]:
        if entry["operation"] != "CreateDeliveryStream":
            continue
        params = json.loads(rendered[entry["file"]])
        for role_arn, opts in logging_options(params):
            role = (role_arn or "").rsplit("/", 1)[-1]
            stream_arn = (f"arn:{values['Partition']}:logs:{values['Region']}:{values['AccountId']}:log-group:"
                          f"{opts.get('LogGroupName')}:log-stream:{opts.get('LogStreamName')}")
            if not allowed(policies.get(role, []), "logs:PutLogEvents", stream_arn):
                problems.add(entry["file"], f"logs to {opts.get('LogGroupName')} / {opts.get('LogStreamName')}, "
                                            f"outside the logs:PutLogEvents resources of role {role}")


# Condition keys each service principal sends when it assumes a role (its documented
# confused-deputy protection). A condition on a key the service does not send never
# matches, so the service cannot assume the role at all.
SERVICE_CONDITION_KEYS = {
    "firehose.amazonaws.com": {"sts:externalid"},
    "kinesisanalytics.amazonaws.com": {"aws:sourceaccount", "aws:sourcearn"},
    "ec2.amazonaws.com": set(),
}


def validate_trust_conditions(manifest, rendered, problems):
    for entry in manifest["policies"]:
        if entry["kind"] != "trust":
            continue
        doc = json.loads(rendered[entry["file"]])
        for i, st in enumerate(as_list(doc.get("Statement", []))):
            services = as_list((st.get("Principal") or {}).get("Service", []))
            for service in services:
                sent = SERVICE_CONDITION_KEYS.get(service)
                if sent is None:
                    problems.add(entry["file"], f"no known condition keys for the service {service}")
                    continue
                for operator, conditions in (st.get("Condition") or {}).items():
                    for key in conditions:
                        if key.lower() not in sent:
                            problems.add(f"{entry['file']} Statement[{i}]",
                                         f"{operator} {key}: {service} does not send this key "
                                         f"(it sends {sorted(sent) or 'none'})")


def strip_sql_comments(sql):
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def validate_kda_sql(rendered, problems):
    """Constructs the Kinesis Data Analytics streaming SQL dialect forbids."""
    rel = "kda/aggregate.sql"
    sql = strip_sql_comments(rendered[rel])
    if re.search(r"COUNT\s*\(\s*DISTINCT\b", sql, re.I):
        problems.add(rel, "COUNT(DISTINCT ...) in a streaming query: the KDA SQL reference allows it only "
                          "over a finite group (use SELECT STREAM DISTINCT per step, then COUNT)")
    for statement in sql.split(";"):
        if re.search(r"SELECT\s+STREAM", statement, re.I) and re.search(r"GROUP\s+BY", statement, re.I):
            group_by = re.split(r"GROUP\s+BY", statement, flags=re.I)[-1]
            if not re.search(r"STEP\s*\(|ROWTIME", group_by, re.I):
                problems.add(rel, "a streaming GROUP BY without a ROWTIME-based step never emits a row")


def agent_json(path):
    """agent.json allows // comments on their own lines."""
    with open(path, encoding="utf-8") as f:
        return json.loads("\n".join(line for line in f if not line.lstrip().startswith("//")))


def validate_examples(manifest, rendered, problems, examples_dir):
    """Every example is classified; a pipeline example names only streams a template creates."""
    classified = manifest.get("examples", {})
    created = {"deliveryStream": set(), "kinesisStream": set()}
    for entry in manifest["cli_inputs"]:
        params = json.loads(rendered[entry["file"]])
        if entry["operation"] == "CreateDeliveryStream" and params.get("DeliveryStreamType", "DirectPut") == "DirectPut":
            created["deliveryStream"].add(params["DeliveryStreamName"])
        if entry["operation"] == "CreateStream":
            created["kinesisStream"].add(params["StreamName"])
    for name in sorted(os.listdir(examples_dir)):
        rel = f"config/examples/{name}"
        if not name.endswith(".json"):
            continue
        if rel not in classified:
            problems.add("manifest.json", f"{rel} is not in \"examples\" (pipeline, or why it is not)")
            continue
        if classified[rel] != "pipeline":
            continue
        for i, flow in enumerate(agent_json(os.path.join(examples_dir, name)).get("flows", [])):
            for key, names in created.items():
                if key in flow and flow[key] not in names:
                    problems.add(rel, f"flows[{i}].{key} {flow[key]!r} is created by no template "
                                      f"(with the default prefix they create {sorted(names)})")


def validate_domain_policy(rendered, problems):
    """Unsigned requests (allowed by source IP) may read and search, never write."""
    rel = "opensearch/access-policy.json"
    reads = {"es:ESHttpGet", "es:ESHttpHead"}
    search_paths = ("/_dashboards/*", "/_msearch", "/_search", "/_msearch")
    for i, st in enumerate(json.loads(rendered[rel])["Statement"]):
        if "aws:SourceIp" not in json.dumps(st.get("Condition", {})):
            continue
        for action in as_list(st["Action"]):
            if action in reads:
                continue
            if action == "es:ESHttpPost" and all(r.endswith(search_paths) for r in as_list(st["Resource"])):
                continue
            problems.add(f"{rel} Statement[{i}]", f"{action} for unsigned requests from the network: "
                                                  "read-only there (GET, HEAD, POST to search paths)")


def validate_stream_readers(rendered, problems):
    """Polling consumers share 5 GetRecords calls per second per shard: each Firehose
    reading the stream polls once a second, a polling Flink source 5 times (200 ms)."""
    polls, readers = 0, []
    for rel in ("firehose/raw-archive-from-kinesis.json", "firehose/raw-index-from-kinesis.json"):
        if json.loads(rendered[rel]).get("DeliveryStreamType") == "KinesisStreamAsSource":
            polls, readers = polls + 1, readers + [rel]
    app = json.loads(rendered["flink/flink-application.json"])
    groups = {g["PropertyGroupId"]: g["PropertyMap"]
              for g in app["ApplicationConfiguration"]["EnvironmentProperties"]["PropertyGroups"]}
    if groups.get("source", {}).get("scan.stream.recordpublisher", "POLLING") != "EFO":
        polls, readers = polls + 5, readers + ["flink/flink-application.json (polling)"]
    elif not groups["source"].get("scan.stream.efo.consumername"):
        problems.add("flink/flink-application.json", "enhanced fan-out needs scan.stream.efo.consumername")
    if polls > 5:
        problems.add("kinesis/raw-stream.json", f"{polls} GetRecords per second per shard from {readers}; "
                                               "the limit is 5: use enhanced fan-out for Flink")


def validate_opensearch_bodies(manifest, rendered, problems):
    """ISM policies cover the index templates' patterns with valid state machines; the
    aggregates template's default pipeline is one the manifest creates."""
    bodies = {b["file"]: b for b in manifest.get("opensearch_bodies", [])}
    pipelines = {b["path"].rsplit("/", 1)[-1] for b in bodies.values() if b["path"].startswith("/_ingest/pipeline/")}
    covered = []
    for rel, body in bodies.items():
        doc = json.loads(rendered[rel])
        if body["path"].startswith("/_plugins/_ism/policies/"):
            policy = doc["policy"]
            states = [st["name"] for st in policy["states"]]
            if policy["default_state"] not in states:
                problems.add(rel, f"default_state {policy['default_state']} is not a state")
            for st in policy["states"]:
                for t in st.get("transitions", []):
                    if t["state_name"] not in states:
                        problems.add(rel, f"{st['name']} moves to the missing state {t['state_name']}")
            if not any("delete" in a for st in policy["states"] for a in st.get("actions", [])):
                problems.add(rel, "never deletes an index: the domain fills up")
            for tmpl in policy.get("ism_template", []):
                covered += tmpl["index_patterns"]
    for entry in manifest["index_templates"]:
        template = json.loads(rendered[entry["file"]])
        for pattern in template["index_patterns"]:
            if pattern not in covered:
                problems.add(entry["file"], f"{pattern} has no ISM retention policy")
        default = template["template"]["settings"].get("index.default_pipeline")
        if default is not None and default not in pipelines:
            problems.add(entry["file"], f"default pipeline {default} is created by no opensearch body")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", default=os.path.join(repo_root(), "config", "aws"))
    parser.add_argument("--rendered", help="a `firetail setup render` output to compare with")
    parser.add_argument("--examples", default=os.path.join(repo_root(), "config", "examples"),
                        help="the example agent.json files (config/examples)")
    args = parser.parse_args()
    problems = Problems()
    if botocore is None:
        print("validate-templates: botocore is not installed (use $FIRETAIL_PYTHON)", file=sys.stderr)
        return 1
    with open(os.path.join(args.templates, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    placeholders = manifest["placeholders"]
    test_values = {name: spec["test"] for name, spec in placeholders.items()}
    # Defaults derived from the required values must land where the test values are.
    required = {n: s["test"] for n, s in placeholders.items() if "default" not in s}
    derived = resolve_values(placeholders, required, problems)
    for name, value in derived.items():
        if value != test_values[name]:
            problems.add("manifest.json", f"{name}: default gives {value!r}, test value is {test_values[name]!r}")
    values = resolve_values(placeholders, test_values, problems)
    rendered = render(args.templates, values, problems)

    if args.rendered:
        theirs = {rel: None for rel in template_files(args.rendered)}
        if set(theirs) != set(rendered):
            problems.add(args.rendered, f"file set differs: only there {sorted(set(theirs) - set(rendered))}, "
                                        f"only here {sorted(set(rendered) - set(theirs))}")
        for rel in sorted(set(theirs) & set(rendered)):
            with open(os.path.join(args.rendered, rel), encoding="utf-8") as f:
                if f.read() != rendered[rel]:
                    problems.add(os.path.join(args.rendered, rel), "differs from this script's rendering")

    validate_cli_inputs(manifest, rendered, problems)
    validate_policies(manifest, rendered, problems)
    raw_props, agg_props = validate_schemas(args.templates, manifest, rendered, problems)
    validate_dashboards(manifest, rendered, raw_props, agg_props, problems)
    validate_flink_application(rendered, problems)
    validate_log_groups(manifest, rendered, values, problems)
    validate_trust_conditions(manifest, rendered, problems)
    validate_kda_sql(rendered, problems)
    validate_examples(manifest, rendered, problems, args.examples)
    validate_domain_policy(rendered, problems)
    validate_stream_readers(rendered, problems)
    validate_opensearch_bodies(manifest, rendered, problems)
    for bad in ("0.0.0.0/0", "198.51.100.0/33", "300.1.1.0/24", "198.51.100.7/24"):
        if open_or_invalid_cidr(bad) is None:
            problems.add("validate-templates.py", f"the CIDR rule accepts {bad}")

    if problems:
        print(f"validate-templates: {len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")
        return 1
    print(f"validate-templates: OK: {len(rendered)} files rendered; {len(manifest['cli_inputs'])} "
          f"--cli-input-json files valid for botocore {botocore.__version__ if hasattr(botocore, '__version__') else ''}; "
          f"{len(manifest['policies'])} policies; schemas, mappings and dashboards consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
