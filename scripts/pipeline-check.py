#!/usr/bin/env python3
"""The pipeline rehearsal behind scripts/test-pipeline (run it through that script, which
installs and caches the engines and sets FIRETAIL_BIN, OS_HOME, JAR and FLINK_VENV).

Everything listens on 127.0.0.1. The story, in simulated log time (the generator writes
timestamps from a fixed start, 5 lines per second per server, as fast as it can):

  minutes  0-10  three web servers write, three firetail daemons ship
  minutes 10-20  web-3's daemon is stopped (SIGTERM): an outage; web-3 keeps writing, its
                 backlog grows on disk; web-1 and web-2 ship, the Flink job moves on
  minutes 20-22  everyone writes; web-3's daemon starts again and ships its backlog from
                 its checkpoint, ten and more minutes behind the rest

Each daemon has three flows on its access log, all LOGTOJSON COMBINEDAPACHELOG: the Kinesis
data stream (moto's server), the raw Direct PUT Firehose (S3 layout on disk) and the raw
index Firehose (OpenSearch). The Flink job (the rendered main.py and aggregate.sql, the
connector uber jar) reads the data stream with the Kinesis source and writes the aggregates
Firehose with the Firehose sink; firetail local-firehose indexes both OpenSearch streams
into a real OpenSearch node with the rendered index templates and ingest pipeline.

Checks, each printing its counts: every generated line is in S3 and in the raw index;
every minute's aggregate document equals an independent computation from the generated
files (requests, bytes, status classes, error rate, distinct clients, top 10 paths and
clients), the outage minutes included; every visualisation of dashboards.ndjson runs its
query against the real indices and returns data; the dashboards import body parses.

Deviations from AWS, each forced by what runs here: the Flink source polls (moto has no
SubscribeToShard, so no enhanced fan-out); the raw index stream is Direct PUT instead of
reading the data stream (local-firehose has no Kinesis source); buffering intervals are
2 s instead of 60-300 s; OpenSearch Dashboards cannot run here (not on Maven Central, PyPI
or Debian), so its saved objects are checked by running their queries; the ISM plugin is
not to be had from Maven Central here, so the ISM policies are sent and the refusal
reported.
"""

import collections
import datetime
import email.parser
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRETAIL = os.environ["FIRETAIL_BIN"]
OS_HOME = os.environ["OS_HOME"]
JAR = os.environ["JAR"]
FLINK_PYTHON = os.path.join(os.environ["FLINK_VENV"], "bin", "python")

SERVERS = ["web-1", "web-2", "web-3"]
OUTAGE_SERVER = "web-3"
START = datetime.datetime(2026, 11, 25, 13, 0, 0, tzinfo=datetime.timezone.utc)
LINES_PER_SECOND = 5
# (first minute, minutes) of each phase; the outage is phase 1 for OUTAGE_SERVER.
PHASES = [(0, 10), (10, 10), (20, 2)]
REGION = "eu-west-1"
CREDS = {"aws_access_key_id": "AKIDLOCAL", "aws_secret_access_key": "local", "region_name": REGION}
TEST_VALUES = ["--account", "123456789012", "--region", REGION, "--prefix", "firetail",
               "--dashboards-cidr", "198.51.100.0/24",
               "--set", "AdminRoleArn=arn:aws:iam::123456789012:role/Admin"]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, content_type="application/json", timeout=60):
    """(status, parsed JSON or text) of one request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, {}
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class Processes:
    """Every process this run starts, each in its own process group; stopped by id."""

    def __init__(self, work):
        self.work, self.running = work, {}

    def start(self, name, argv, env=None, cwd=None, user=None):
        out = open(os.path.join(self.work, f"{name}.log"), "ab")
        if user is not None:
            import pwd
            entry = pwd.getpwnam(user)
            argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"] + argv
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        self.running[name] = proc
        return proc

    def stop(self, name, timeout=30):
        proc = self.running.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def check(self, name):
        proc = self.running.get(name)
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.work}/{name}.log")

    def stop_all(self):
        for name in list(self.running):
            self.stop(name, timeout=15)


def wait_until(what, predicate, timeout, procs=None, names=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for name in names:
            procs.check(name)
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


# ---- the engines -----------------------------------------------------------------------

def start_opensearch(procs, work):
    """A single node on loopback ports, as an unprivileged user when we are root
    (OpenSearch refuses to run as root)."""
    home = os.path.join(work, "opensearch")
    shutil.copytree(OS_HOME, home, symlinks=True)
    http_port, transport_port = free_port(), free_port()
    with open(os.path.join(home, "config", "opensearch.yml"), "w") as f:
        f.write(f"cluster.name: firetail-pipeline\nnode.name: node-1\nnetwork.host: 127.0.0.1\n"
                f"http.port: {http_port}\ntransport.port: {transport_port}\ndiscovery.type: single-node\n"
                f"path.data: {home}/data\npath.logs: {home}/logs\n"
                "cluster.routing.allocation.disk.threshold_enabled: false\n")
    options = os.path.join(home, "config", "jvm.options")
    with open(options) as f:
        text = f.read().replace("-Xms1g", "-Xms512m").replace("-Xmx1g", "-Xmx512m")
    with open(options, "w") as f:
        f.write(text)
    user = None
    if os.geteuid() == 0:
        user = "nobody"
        subprocess.run(["chown", "-R", "nobody:", home], check=True)
        os.chmod(work, 0o755)  # mkdtemp's 0700 would keep the node out of its own home
    java_home = os.environ.get("OPENSEARCH_JAVA_HOME") or os.path.dirname(os.path.dirname(
        os.path.realpath(shutil.which("java"))))
    procs.start("opensearch", [os.path.join(home, "bin", "opensearch")],
                env={"OPENSEARCH_JAVA_HOME": java_home}, user=user)
    url = f"http://127.0.0.1:{http_port}"
    wait_until("OpenSearch", lambda: http("GET", url + "/_cluster/health")[0] == 200, 180, procs, ["opensearch"])
    status, body = http("GET", url + "/")
    log(f"OpenSearch {body['version']['number']} on {url}")
    return url


# moto_server serves requests on threads, and its Kinesis shard numbers a new record as
# "highest sequence number + 1" without a lock: concurrent PutRecords from several daemons
# overwrite each other's records (146 of 19,800 lost in a run). One thread serves them
# one at a time, as the real service orders them.
MOTO_SINGLE_THREADED = """
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)
"""


def start_services(procs, work):
    moto_port, firehose_port = free_port(), free_port()
    procs.start("moto", [sys.executable, "-c", MOTO_SINGLE_THREADED, str(moto_port)])
    os_url = start_opensearch(procs, work)
    procs.start("local-firehose", [FIRETAIL, "local-firehose", "--listen", f"127.0.0.1:{firehose_port}",
                                   "--dir", os.path.join(work, "s3"), "--opensearch-url", os_url])
    moto_url, firehose_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{firehose_port}"
    wait_until("moto", lambda: http("GET", moto_url + "/moto-api/data.json")[0] == 200, 60, procs, ["moto"])
    wait_until("local-firehose", lambda: http("GET", firehose_url + "/health")[0] == 200, 60,
               procs, ["local-firehose"])
    return moto_url, firehose_url, os_url


def render(work):
    out = os.path.join(work, "rendered")
    subprocess.run([FIRETAIL, "setup", "render", *TEST_VALUES, "--templates",
                    os.path.join(ROOT, "config", "aws"), "--out", out], check=True, stdout=subprocess.DEVNULL)
    return out


def rendered_json(rendered, rel):
    with open(os.path.join(rendered, rel), encoding="utf-8") as f:
        return json.load(f)


def apply_opensearch_bodies(rendered, os_url):
    """The manifest's OpenSearch bodies, in order: ingest pipeline, index templates, ISM."""
    manifest = rendered_json(os.path.join(ROOT, "config", "aws"), "manifest.json")
    applied, refused = [], []
    for body in manifest["opensearch_bodies"]:
        with open(os.path.join(rendered, body["file"]), "rb") as f:
            status, answer = http(body["method"], os_url + body["path"], f.read())
        if status == 200:
            applied.append(body["path"])
        elif body["path"].startswith("/_plugins/_ism/"):
            refused.append(body["path"])
        else:
            raise RuntimeError(f"{body['path']}: {status} {answer}")
    log(f"check opensearch-setup: {len(applied)} bodies applied ({', '.join(applied)})")
    if refused:
        log(f"  not applied: {len(refused)} ISM policies ({', '.join(refused)}): this node has no ISM plugin "
            "(no version of opensearch-index-management, zip or jar, 2.17 to 2.19.6, could be fetched from "
            "Maven Central here); validate-templates checks them")
    return manifest


def create_streams(rendered, moto_url, firehose_url):
    kinesis = boto3.client("kinesis", endpoint_url=moto_url, **CREDS)
    kinesis.create_stream(**rendered_json(rendered, "kinesis/raw-stream.json"))
    kinesis.get_waiter("stream_exists").wait(StreamName="firetail-raw")
    firehose = boto3.client("firehose", endpoint_url=firehose_url, **CREDS)
    for rel in ("firehose/raw-direct-put.json", "firehose/raw-index-from-kinesis.json",
                "firehose/aggregates-to-opensearch.json"):
        params = rendered_json(rendered, rel)
        # local-firehose has no Kinesis source: the raw index stream is Direct PUT here.
        if params.pop("KinesisStreamSourceConfiguration", None) is not None:
            params["DeliveryStreamType"] = "DirectPut"
        for dest in ("ExtendedS3DestinationConfiguration", "AmazonopensearchserviceDestinationConfiguration"):
            if dest in params:
                params[dest]["BufferingHints"]["IntervalInSeconds"] = 2
        firehose.create_delivery_stream(**params)
    log("streams: Kinesis firetail-raw (moto); Firehose firetail-raw (S3), firetail-raw-index and "
        "firetail-aggregates (OpenSearch) from the rendered templates")


def start_flink(procs, work, rendered, moto_url, firehose_url):
    """The rendered job, with the rendered property groups and local endpoints."""
    groups = {g["PropertyGroupId"]: g["PropertyMap"] for g in rendered_json(rendered, "flink/application_properties.json")}
    creds = {"aws.credentials.provider": "BASIC", "aws.credentials.basic.accesskeyid": "AKIDLOCAL",
             "aws.credentials.basic.secretkey": "local"}
    groups["source"].update(creds, **{"aws.endpoint": moto_url, "scan.stream.initpos": "TRIM_HORIZON",
                                      "scan.stream.recordpublisher": "POLLING"})
    for key in [k for k in groups["source"] if k.startswith("scan.stream.efo.")]:
        del groups["source"][key]
    groups["sink"].update(creds, **{"aws.endpoint": firehose_url})
    props = os.path.join(work, "flink-properties.json")
    with open(props, "w") as f:
        json.dump([{"PropertyGroupId": k, "PropertyMap": v} for k, v in groups.items()], f)
    env = {"FIRETAIL_FLINK_PROPERTIES": props, "FIRETAIL_FLINK_JAR": JAR,
           # moto's Kinesis speaks JSON, not the CBOR the connector's SDK prefers.
           "AWS_CBOR_DISABLE": "true", "PYTHONDONTWRITEBYTECODE": "1"}
    procs.start("flink", [FLINK_PYTHON, os.path.join(rendered, "flink", "main.py")], env=env,
                cwd=os.path.join(rendered, "flink"))
    log("flink: main.py started (Kinesis source polling moto, Firehose sink to local-firehose)")


# ---- the web farm and its shippers -------------------------------------------------------

def log_path(work, server):
    return os.path.join(work, "farm", server, "access.log")


def generate(work, server, phase):
    """Appends one phase of `server`'s traffic to its access log (as Apache appends)."""
    first_minute, minutes = PHASES[phase]
    seed = 1000 * (SERVERS.index(server) + 1) + phase
    start = START + datetime.timedelta(minutes=first_minute)
    subprocess.run([FIRETAIL, "generate", "-o", log_path(work, server), "--rate", "max",
                    "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--sim-rate", str(LINES_PER_SECOND),
                    "--count", str(minutes * 60 * LINES_PER_SECOND), "--seed", str(seed), "--log-level", "warn"],
                   check=True, stdout=subprocess.DEVNULL)


def agent_config(work, server, moto_url, firehose_url):
    """One daemon per server: the same access log to the data stream and both raw Firehoses."""
    logtojson = [{"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}]
    pattern = log_path(work, server) + "*"
    flow = {"filePattern": pattern, "initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 1000,
            "dataProcessingOptions": logtojson}
    config = {
        "checkpointFile": os.path.join(work, "farm", server, "checkpoints.json"),
        "cloudwatch.emitMetrics": False, "firetail.region": REGION,
        "kinesis.endpoint": moto_url, "firehose.endpoint": firehose_url,
        "firetail.metrics.listen": "",
        "flows": [dict(flow, kinesisStream="firetail-raw", partitionKeyOption="RANDOM"),
                  dict(flow, deliveryStream="firetail-raw"),
                  dict(flow, deliveryStream="firetail-raw-index")],
    }
    path = os.path.join(work, "farm", server, "agent.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def start_shipper(procs, work, server):
    procs.start(f"firetail-{server}", [FIRETAIL, "run", "-c", os.path.join(work, "farm", server, "agent.json")],
                env={"AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": REGION})


def raw_s3_records(work):
    """The records in the raw stream's S3 objects (GZIP, one LOGTOJSON record a line)."""
    records = []
    base = os.path.join(work, "s3", "firetail-raw-123456789012-eu-west-1", "raw")
    for dirpath, _, files in os.walk(base):
        for name in sorted(files):
            if name.startswith("."):
                continue
            with gzip.open(os.path.join(dirpath, name), "rt", encoding="utf-8") as f:
                records.extend(json.loads(line) for line in f if line.strip())
    return records


def run_farm(procs, work, moto_url, firehose_url, before_restart):
    """The three phases; returns the number of lines written."""
    for server in SERVERS:
        os.makedirs(os.path.dirname(log_path(work, server)), exist_ok=True)
        agent_config(work, server, moto_url, firehose_url)
    per_server = [m * 60 * LINES_PER_SECOND for _, m in PHASES]
    written = shipped = 0
    for phase in range(len(PHASES)):
        if phase == 1:
            procs.stop(f"firetail-{OUTAGE_SERVER}")
            log(f"outage: {OUTAGE_SERVER}'s firetail stopped (SIGTERM) at minute {PHASES[1][0]} of log time")
        for server in SERVERS:
            generate(work, server, phase)
        written += per_server[phase] * len(SERVERS)
        if phase == 0:
            for server in SERVERS:
                start_shipper(procs, work, server)
        if phase == 2:
            before_restart()
            start_shipper(procs, work, OUTAGE_SERVER)
            log(f"outage over: {OUTAGE_SERVER}'s firetail restarted with {per_server[1]} lines of backlog "
                f"(minutes {PHASES[1][0]}-{PHASES[2][0]}), {PHASES[1][1]}+ minutes behind the others")
        shipped = written if phase != 1 else written - per_server[1]
        live = [f"firetail-{s}" for s in SERVERS if not (phase == 1 and s == OUTAGE_SERVER)] + ["flink"]
        wait_until(f"phase {phase} in S3", lambda: len(raw_s3_records(work)) >= shipped, 600, procs, live)
        log(f"phase {phase}: minutes {PHASES[phase][0]}-{sum(PHASES[phase])} written by {len(SERVERS)} servers "
            f"({per_server[phase] * len(SERVERS)} lines); {shipped} lines in S3")
    return written


# ---- what the files say: an independent computation -----------------------------------------

LINE = re.compile(r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}|-) (\d+|-) "([^"]*)" "([^"]*)"$')
PATH = re.compile(r"^[^ ]+ ([^ ?]*)")


def parse_lines(work):
    """Every generated line as the fields a raw document carries, per server."""
    lines = {}
    for server in SERVERS:
        with open(log_path(work, server), encoding="utf-8") as f:
            lines[server] = [LINE.match(line.rstrip("\n")).groups() for line in f]
    return lines


def identity(host, dt, request, status, size):
    return (host, dt, request, status, size)


def line_identity(fields):
    host, _, _, dt, request, status, size, _, _ = fields
    none = lambda v: None if v == "-" else v  # noqa: E731 (LOGTOJSON writes "-" as null)
    return identity(none(host), dt, none(request), none(status), none(size))


def record_identity(rec):
    return identity(rec["host"], rec["datetime"], rec["request"], rec["response"], rec["bytes"])


def minute_of(dt):
    t = datetime.datetime.strptime(dt, "%d/%b/%Y:%H:%M:%S %z").astimezone(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:00Z")


def expected_aggregates(lines):
    """{doc_id: document fields} computed from the files, as aggregate.sql defines them."""
    minutes = collections.defaultdict(list)
    for fields in (f for server_lines in lines.values() for f in server_lines):
        minutes[minute_of(fields[3])].append(fields)
    docs = {}
    for minute, rows in minutes.items():
        statuses = [int(r[5]) for r in rows if r[5] != "-"]
        cls = lambda lo: sum(1 for s in statuses if lo <= s <= lo + 99)  # noqa: E731
        docs[f"minute|{minute}"] = {
            "requests": len(rows), "bytes": sum(int(r[6]) for r in rows if r[6] != "-"),
            "status_2xx": cls(200), "status_3xx": cls(300), "status_4xx": cls(400), "status_5xx": cls(500),
            "error_rate": (cls(400) + cls(500)) / len(rows), "distinct_clients": len({r[0] for r in rows})}
        paths = collections.Counter(m.group(1) for m in (PATH.match(r[4]) for r in rows) if m)
        clients = collections.Counter(r[0] for r in rows)
        for kind, counter in (("top_path", paths), ("top_client", clients)):
            ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            for rank, (item, n) in enumerate(ranked, 1):
                docs[f"{kind}|{minute}|{rank}"] = {"item": item, "requests": n}
    return docs


# ---- checks ---------------------------------------------------------------------------------

def compare_multisets(what, want, got):
    want_c, got_c = collections.Counter(want), collections.Counter(got)
    missing = sum((want_c - got_c).values())
    unexpected = sum((got_c - want_c).values())
    log(f"check {what}: {len(want)} lines generated, {len(got)} records found, "
        f"{missing} missing, {unexpected} extra (duplicates or unknown)")
    return missing == 0 and unexpected == 0


def all_documents(os_url, index, fields=None):
    docs, after = [], None
    while True:
        body = {"size": 5000, "sort": [{"_id": "asc"}], "query": {"match_all": {}}}
        if fields:
            body["_source"] = fields
        if after:
            body["search_after"] = after
        status, answer = http("POST", f"{os_url}/{index}/_search", body)
        if status != 200:
            raise RuntimeError(f"search {index}: {status} {answer}")
        hits = answer["hits"]["hits"]
        docs.extend(hits)
        if len(hits) < 5000:
            return docs
        after = hits[-1]["sort"]


def check_raw(work, os_url, lines, total):
    want = [line_identity(f) for server_lines in lines.values() for f in server_lines]
    assert len(want) == total
    ok = compare_multisets("raw-in-s3", want, [record_identity(r) for r in raw_s3_records(work)])
    http("POST", f"{os_url}/firetail-raw-*/_refresh")
    docs = all_documents(os_url, "firetail-raw-*")
    indices = sorted({d["_index"] for d in docs})
    log(f"  raw index: indices {indices} (rotated daily by arrival time)")
    return compare_multisets("raw-in-index", want, [record_identity(d["_source"]) for d in docs]) and ok


def kinesis_records(moto_url):
    """Every record on the data stream, from each shard's start."""
    kinesis = boto3.client("kinesis", endpoint_url=moto_url, **CREDS)
    records = []
    for shard in kinesis.list_shards(StreamName="firetail-raw")["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName="firetail-raw", ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            records.extend(json.loads(r["Data"]) for r in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def check_kinesis(moto_url, lines):
    want = [line_identity(f) for server_lines in lines.values() for f in server_lines]
    return compare_multisets("raw-in-kinesis", want, [record_identity(r) for r in kinesis_records(moto_url)])


def aggregate_docs(os_url):
    http("POST", f"{os_url}/firetail-aggregates-*/_refresh")
    return {d["_id"]: d["_source"] for d in all_documents(os_url, "firetail-aggregates-*")}


def aggregate_mismatches(expected, got):
    problems = []
    for doc_id, want in expected.items():
        have = got.get(doc_id)
        if have is None:
            problems.append(f"{doc_id}: missing")
            continue
        for key, value in want.items():
            ok = abs(have.get(key, -1) - value) < 1e-9 if key == "error_rate" else have.get(key) == value
            if not ok:
                problems.append(f"{doc_id} {key}: index {have.get(key)!r}, files {value!r}")
    problems += [f"{doc_id}: not in the files" for doc_id in got if doc_id not in expected]
    return problems


def check_aggregates(os_url, lines, procs):
    expected = expected_aggregates(lines)
    try:
        got = wait_until("the aggregates to match the files",
                         lambda: (lambda g: g if not aggregate_mismatches(expected, g) else None)(aggregate_docs(os_url)),
                         150, procs, ["flink", "local-firehose", "opensearch"])
    except RuntimeError as e:
        got = aggregate_docs(os_url)
        problems = aggregate_mismatches(expected, got)
        log(f"check aggregates: FAILED ({e}); {len(problems)} differences, first: {problems[:8]}")
        with open(os.path.join(os.environ.get("FIRETAIL_PIPELINE_DEBUG", "/dev/null")), "w") as f:
            json.dump({"problems": problems, "got": got, "expected": expected}, f)
        return False
    minutes = sorted(k for k in expected if k.startswith("minute|"))
    def offset(doc_id):
        t = datetime.datetime.strptime(doc_id.split("|")[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        return (t - START).total_seconds() // 60
    outage = [m for m in minutes if PHASES[1][0] <= offset(m) < PHASES[2][0]]
    late = sum(1 for f in lines[OUTAGE_SERVER] if f"minute|{minute_of(f[3])}" in outage)
    tops = len(expected) - len(minutes)
    log(f"check aggregates: {len(minutes)} minute documents and {tops} top-10 documents equal the files "
        f"(requests, bytes, status classes, error rate, distinct clients, top paths and clients)")
    log(f"check outage: {len(outage)} outage minutes complete, with all {late} lines {OUTAGE_SERVER} shipped "
        f"after its restart; 0 lost")
    stats = http("GET", FIREHOSE_URL + "/stats")[1]
    log(f"  local-firehose: {stats['opensearch_documents_indexed']} documents indexed, "
        f"{stats['opensearch_documents_failed']} failed (S3 backup), {stats['opensearch_bulk_requests']} bulk requests")
    return True


def visualization_query(vis):
    """The search OpenSearch Dashboards sends for an aggregation-based visualization."""
    state = json.loads(vis["attributes"]["visState"])
    search = json.loads(vis["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    metrics, bucket = {}, None
    for agg in state["aggs"]:
        params = agg.get("params", {})
        if agg["schema"] == "metric" and agg["type"] != "count":
            metrics[agg["id"]] = {agg["type"]: {"field": params["field"]}}
        elif agg["type"] == "date_histogram":
            # "m" with useNormalizedOpenSearchInterval is a one-minute fixed interval.
            bucket = (agg["id"], {"date_histogram": {"field": params["field"], "fixed_interval": "1m",
                                                      "min_doc_count": params.get("min_doc_count", 1)}})
        elif agg["type"] == "terms":
            # Terms ordered by the metric the visualization names (its id), as Dashboards does.
            order = {params["orderBy"]: params["order"]}
            bucket = (agg["id"], {"terms": {"field": params["field"], "size": params["size"], "order": order}})
    query = search["query"]["query"]
    body = {"size": 0, "query": {"query_string": {"query": query}} if query else {"match_all": {}}}
    if bucket is not None:
        body["aggs"] = {bucket[0]: dict(bucket[1], aggs=metrics)}
    else:
        body["aggs"] = metrics
    return body, list(metrics)


# Plans the job with the production property groups as rendered (enhanced fan-out source,
# Firehose sink): the connectors' factories validate every option while planning, and
# nothing is called. Credentials are added only because the factories require some.
PLAN_PRODUCTION = """
import sys
sys.path.insert(0, sys.argv[1])
import main as job
props = job.load_properties(sys.argv[2])
creds = {"aws.credentials.provider": "BASIC", "aws.credentials.basic.accesskeyid": "AKIDLOCAL",
         "aws.credentials.basic.secretkey": "local"}
_, t_env = job.create_environment(props=props)
job.define_aggregates(t_env, dict(props["source"], **creds))
t_env.execute_sql(job.sink_ddl(dict(props["sink"], **creds)))
job.upserts(t_env, t_env.from_path("aggregates")).explain()
print(props["source"]["scan.stream.recordpublisher"], props["source"]["scan.stream.efo.consumername"])
"""


def check_production_flink_config(rendered):
    flink = os.path.join(rendered, "flink")
    done = subprocess.run([FLINK_PYTHON, "-c", PLAN_PRODUCTION, flink, os.path.join(flink, "application_properties.json")],
                          capture_output=True, text=True, env={**os.environ, "FIRETAIL_FLINK_JAR": JAR})
    ok = done.returncode == 0
    detail = done.stdout.strip().splitlines()[-1] if ok else done.stderr.strip().splitlines()[-1:]
    log(f"check flink-production-options: the rendered source and sink groups plan with the connectors: "
        f"{'yes' if ok else 'NO'} ({detail})")
    return ok


def check_dashboards(rendered, os_url):
    """Every saved object's query against the real indices: index patterns' time fields are
    dates in the live mappings, every visualization returns buckets with values."""
    objects = [json.loads(line) for line in open(os.path.join(rendered, "opensearch", "dashboards.ndjson"))]
    patterns = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    ok = True
    for pid, attrs in patterns.items():
        status, answer = http("GET", f"{os_url}/{attrs['title']}/_mapping/field/{attrs['timeFieldName']}")
        types = {v["mappings"][attrs["timeFieldName"]]["mapping"][attrs["timeFieldName"]]["type"]
                 for v in answer.values()} if status == 200 and answer else set()
        ok &= types == {"date"}
        log(f"check dashboards index-pattern {attrs['title']}: time field {attrs['timeFieldName']} is {types or 'absent'} "
            f"in {len(answer) if status == 200 else 0} live indices")
    for vis in (o for o in objects if o["type"] == "visualization"):
        index_id = next(r["id"] for r in vis["references"] if r["type"] == "index-pattern")
        body, metric_ids = visualization_query(vis)
        status, answer = http("POST", f"{os_url}/{patterns[index_id]['title']}/_search", body)
        buckets = next(iter(answer.get("aggregations", {}).values()), {}).get("buckets", []) if status == 200 else []
        valued = sum(1 for b in buckets if all(b.get(m, {}).get("value") is not None for m in metric_ids))
        ok &= status == 200 and valued > 0
        log(f"check dashboards visualization {vis['id']}: HTTP {status}, {len(buckets)} buckets, "
            f"{valued} with every metric")
    log("  OpenSearch Dashboards itself does not run here (no package of it on Maven Central, PyPI, npm or Debian); "
        "its saved objects were checked through their queries")
    return ok


def check_import_body(rendered):
    """The documented import body (opensearch/dashboards-import.sh) is valid multipart
    carrying dashboards.ndjson byte for byte."""
    ndjson = os.path.join(rendered, "opensearch", "dashboards.ndjson")
    boundary = "firetail-import-test"
    body = subprocess.run(["sh", os.path.join(rendered, "opensearch", "dashboards-import.sh"), ndjson, boundary],
                          check=True, capture_output=True).stdout
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode() + body)
    parts = message.get_payload()
    with open(ndjson, "rb") as f:
        same = len(parts) == 1 and parts[0].get_param("name", header="content-disposition") == "file" \
            and parts[0].get_payload(decode=True) == f.read()
    log(f"check dashboards-import-body: {len(body)} bytes, {len(parts)} part, ndjson intact: {same}")
    return same


def wait_for_flink_past_outage(os_url, procs):
    """Before web-3 comes back, the job must have reported the outage's last minute from the
    others' records: then web-3's backlog really arrives behind the stream."""
    last = (START + datetime.timedelta(minutes=PHASES[2][0] - 1)).strftime("%Y-%m-%dT%H:%M:00Z")
    def reported():
        http("POST", f"{os_url}/firetail-aggregates-*/_refresh")
        query = {"query": {"ids": {"values": [f"minute|{last}"]}}}
        status, answer = http("POST", f"{os_url}/firetail-aggregates-*/_search", query)
        return status == 200 and answer["hits"]["total"]["value"] > 0
    wait_until(f"the Flink job to report minute {last}", reported, 300, procs, ["flink", "local-firehose"])
    log(f"flink: minute {last} already reported when the backlog starts (its document will be updated)")


FIREHOSE_URL = None


def stop_on_signal(signum, _frame):
    # SIGTERM and SIGINT unwind through main's finally, which stops every process started.
    raise SystemExit(128 + signum)


def main():
    global FIREHOSE_URL
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    started = time.time()
    work = tempfile.mkdtemp(prefix="firetail-pipeline.")
    procs = Processes(work)
    results = {}
    try:
        rendered = render(work)
        moto_url, FIREHOSE_URL, os_url = start_services(procs, work)
        apply_opensearch_bodies(rendered, os_url)
        create_streams(rendered, moto_url, FIREHOSE_URL)
        start_flink(procs, work, rendered, moto_url, FIREHOSE_URL)
        total = run_farm(procs, work, moto_url, FIREHOSE_URL, lambda: wait_for_flink_past_outage(os_url, procs))
        lines = parse_lines(work)
        wait_until("every line in the raw index",
                   lambda: http("GET", f"{os_url}/firetail-raw-*/_count")[1].get("count", 0) >= total
                   if http("POST", f"{os_url}/firetail-raw-*/_refresh")[0] == 200 else False,
                   300, procs, ["local-firehose", "opensearch"])
        results["kinesis"] = check_kinesis(moto_url, lines)
        results["raw"] = check_raw(work, os_url, lines, total)
        results["aggregates"] = check_aggregates(os_url, lines, procs)
        results["dashboards"] = check_dashboards(rendered, os_url)
        results["import-body"] = check_import_body(rendered)
        results["flink-options"] = check_production_flink_config(rendered)
    except (Exception, SystemExit) as e:  # noqa: BLE001 (reported, then the processes are stopped)
        log(f"FAILED: {type(e).__name__}: {e} (logs in {work})")
        results["run"] = False
    finally:
        procs.stop_all()
    passed = sum(1 for v in results.values() if v)
    failed = len(results) - passed
    print(f"test-pipeline: finished in {time.time() - started:.0f} s (work directory {work})")
    print(f"test-pipeline: {passed} passed, {failed} failed")
    if failed == 0 and not os.environ.get("FIRETAIL_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
