//! Integration tests: one binary, one module per area (ripgrep's layout).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The test harness itself against moto: S3 bucket, delivery stream, PutRecordBatch.
mod moto_smoke;

/// Every Kinesis Agent vector through the preview code path.
mod vectors;

/// The same PutRecordBatch calls against moto and local-firehose deliver the same bytes.
mod local_vs_moto;

/// CloudWatch metrics against moto; the Grafana dashboard and Prometheus alert rules.
mod cloudwatch;

/// ADDEC2METADATA through the real chain, against an IMDSv2 stub.
mod imds;

/// Importing the Kinesis Agent's SQLite checkpoints, then resuming from them.
mod migrate;

/// End to end through the real binary: delivery to moto (Firehose to S3, Kinesis).
mod daemon_moto;

/// End to end: every line through throttles, partial failures, 500s and resets.
mod daemon_faults;

/// End to end: kill -9 at random moments loses nothing; duplicates within the checkpoint lag.
mod daemon_kill;

/// End to end through the real binary: delivery to CloudWatch Logs (moto's), events refused
/// as too old acknowledged and reported, a missing stream created when asked.
mod cloudwatch_logs;

/// End to end: a missing stream is reported, never checkpointed past, and recovered from.
mod daemon_permanent;

/// End to end: the checkpoint file system fills up; reported, nothing lost, recovered.
mod daemon_checkpoint_disk;

/// End to end: every record size, 100 B to 1 MiB and aggregated, at the destination's pace.
mod record_sizes;

/// End to end: 1, 100 and 1,000 matching files; memory per tracked file.
mod many_files;

/// End to end: SIGTERM under load exits in time with a sound checkpoint.
mod daemon_shutdown;

/// End to end: a stage task that ends while the daemon runs is reported at once.
mod daemon_supervision;

/// Drop-in details end to end: timeouts of 0, the STS region, the agent's environment file.
mod agent_compat;

/// The agent's example configurations and five from its issue tracker: check-config, then run.
mod agent_configs;

/// End to end: Prometheus counters and health against the endpoint; the agent's status lines.
mod daemon_metrics;

/// Hostile files (binary, NUL runs, a 50 MiB line, FIFO, symlink loop...) and bad configurations.
mod hostile;

/// Chaos, short profile: every rotation mode, every fault kind, outages and SIGKILL; nothing lost.
mod chaos;

/// End to end: memory stays flat through a full outage; all delivered afterwards.
mod daemon_outage_memory;

/// End to end: copytruncate rotations deliver every line exactly once.
mod daemon_rotation;

/// config/aws renders and validates against botocore's models.
mod templates;

/// `firetail setup` against moto.
mod setup;

/// End to end: SIGHUP adds, removes and re-adds flows; every line exactly once.
mod reload;

/// `firetail run` under a stand-in systemd: READY, WATCHDOG, RELOADING, STOPPING.
mod sd_notify;

/// Debian's prometheus: promtool checks and tests the rules; a server scrapes the daemon and
/// every dashboard query has data.
mod prometheus;

/// `firetail status` against a running daemon: table, --json, --watch, Nagios exit codes.
mod status_cli;

/// `firetail preview` as a command: jsonl against the vectors, human format, exit codes.
mod preview_cli;
