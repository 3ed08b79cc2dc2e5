//! `firetail demo`: the whole product on one machine, with a verdict.
//!
//! It starts the local Firehose stand-in in-process, writes an `agent.json` for it,
//! runs the generator with rotation and the real daemon from that file, and at the end
//! compares every line written with every line that reached the S3-layout output.
//! Nothing here is special-cased for the demo: the daemon is the one `firetail run`
//! starts, reading the configuration file the demo leaves for the user to inspect.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::daemon::counters::FlowCounters;

/// The stream the demo ships to.
pub const DEMO_STREAM: &str = "firetail-demo";

/// What the demo runs.
#[derive(Clone, Debug)]
pub struct DemoPlan {
    /// Everything goes under here: `logs/`, `s3/`, `agent.json`, `checkpoints.json`.
    pub dir: PathBuf,
    pub duration: Duration,
    pub rate: u32,
    pub rotate_mode: firetail_generate::RotateMode,
    pub rotate_bytes: u64,
    pub faults: firetail_local_firehose::Faults,
    /// How long to wait, after the generator stops, for the last lines to be acknowledged.
    pub drain_timeout: Duration,
    /// Print a progress line every second.
    pub progress: bool,
}

/// The demo's findings.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    pub lines_generated: u64,
    pub files_generated: usize,
    pub lines_delivered: u64,
    pub objects: usize,
    /// Lines written but not delivered (must be 0).
    pub missing: u64,
    /// Extra copies delivered (only possible when responses were lost on purpose).
    pub duplicates: u64,
    pub elapsed: Duration,
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        self.missing == 0 && self.lines_generated > 0
    }
}

/// Runs the plan; `interrupt` ends the generation phase early (Ctrl-C).
pub async fn run(plan: DemoPlan, interrupt: CancellationToken) -> anyhow::Result<Verdict> {
    let started = Instant::now();
    let logs = plan.dir.join("logs");
    let s3 = plan.dir.join("s3");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let server = firetail_local_firehose::start(firetail_local_firehose::Options {
        dir: s3.clone(),
        auto_create: true,
        faults: plan.faults.clone(),
        seed: 7,
        ..Default::default()
    })
    .await
    .context("starting the local Firehose")?;
    let settings = write_config(&plan.dir, &server.endpoint_url())?;
    let generator = Generator::spawn(&plan, &logs, started);

    let shutdown = CancellationToken::new();
    let (daemon, counters) = start_daemon(settings, shutdown.clone()).await?;

    // Phase 1: generate and ship, until the duration passes or the user interrupts.
    let lines_generated = generator
        .run_to_end(&plan, &server, &counters, &interrupt, started)
        .await?;

    // Phase 2: wait until every generated line is acknowledged (or give up).
    let deadline = Instant::now() + plan.drain_timeout;
    while records_sent(&counters) < lines_generated && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    daemon.await.context("daemon task")??;
    server.flush().await;
    let objects_written = server.stats().objects_written;
    server.shutdown().await;

    // Phase 3: compare what was written with what arrived, line by line.
    let mut verdict = compare(&logs, &s3)?;
    verdict.objects = usize::try_from(objects_written).unwrap_or(usize::MAX);
    verdict.elapsed = started.elapsed();
    Ok(verdict)
}

/// Writes the demo's `agent.json` (left for the user to inspect) and loads it, as
/// `firetail run` would.
fn write_config(dir: &Path, endpoint: &str) -> anyhow::Result<firetail_config::Settings> {
    let config_path = dir.join("agent.json");
    std::fs::write(&config_path, agent_json(dir, endpoint))
        .with_context(|| format!("writing {}", config_path.display()))?;
    Ok(firetail_config::load(&config_path)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .settings)
}

/// Starts the daemon; returns its task and, once it is running, its flows' counters.
async fn start_daemon(
    settings: firetail_config::Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<(
    tokio::task::JoinHandle<anyhow::Result<crate::daemon::RunReport>>,
    Vec<Arc<FlowCounters>>,
)> {
    let (counters_tx, counters_rx) = tokio::sync::oneshot::channel();
    let hooks = crate::daemon::Hooks {
        ready: Some(Box::new(move |c: Vec<Arc<FlowCounters>>| {
            let _ = counters_tx.send(c); // the demo may already be failing; nothing to do
        })),
        reload: None,
        status: None,
    };
    let daemon = tokio::spawn(crate::daemon::run(settings, shutdown, hooks));
    let counters = counters_rx.await.context("the daemon did not start")?;
    Ok((daemon, counters))
}

/// Records acknowledged by the destination, over every flow.
fn records_sent(counters: &[Arc<FlowCounters>]) -> u64 {
    counters.iter().map(|c| c.records_sent.load(Relaxed)).sum()
}

/// The generator thread, writing rotating Apache logs.
struct Generator {
    progress: Arc<firetail_generate::Progress>,
    stop: Arc<AtomicBool>,
    thread:
        std::thread::JoinHandle<Result<firetail_generate::RunSummary, firetail_generate::Error>>,
}

impl Generator {
    fn spawn(plan: &DemoPlan, logs: &Path, started: Instant) -> Generator {
        let mut gen = firetail_generate::GeneratorConfig::new(
            logs.join("access.log"),
            firetail_generate::Rate::PerSecond(f64::from(plan.rate)),
        );
        gen.seed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(0) ^ 0x5eed;
        gen.duration = Some(plan.duration);
        gen.rotation = Some(firetail_generate::RotationPolicy {
            mode: plan.rotate_mode,
            max_bytes: Some(plan.rotate_bytes),
            interval: None,
            keep: 0,
        });
        let progress = gen.progress.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = firetail_generate::spawn(gen, stop.clone());
        Generator {
            progress,
            stop,
            thread,
        }
    }

    /// Waits until the generator finishes (its duration, or `interrupt`), printing
    /// progress every second if asked; returns how many lines it wrote.
    async fn run_to_end(
        self,
        plan: &DemoPlan,
        server: &firetail_local_firehose::Server,
        counters: &[Arc<FlowCounters>],
        interrupt: &CancellationToken,
        started: Instant,
    ) -> anyhow::Result<u64> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let done = loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = interrupt.cancelled() => { self.stop.store(true, Relaxed); }
            }
            if plan.progress {
                eprintln!(
                    "demo: {:>5.1}s  generated {:>8} lines  shipped {:>8}  S3 objects {:>4}",
                    started.elapsed().as_secs_f64(),
                    self.progress.lines.load(Relaxed),
                    records_sent(counters),
                    server.stats().objects_written,
                );
            }
            if self.thread.is_finished() {
                break self.thread.join();
            }
        };
        match done {
            Ok(Ok(summary)) => Ok(summary.lines),
            Ok(Err(e)) => anyhow::bail!("the generator failed: {e}"),
            Err(_) => anyhow::bail!("the generator thread panicked"),
        }
    }
}

fn agent_json(dir: &Path, endpoint: &str) -> String {
    let pattern = dir.join("logs").join("access.log*");
    serde_json::to_string_pretty(&serde_json::json!({
        "checkpointFile": dir.join("checkpoints.json"),
        "firehose.endpoint": endpoint,
        "awsAccessKeyId": "demo",
        "awsSecretAccessKey": "demo",
        "firetail.region": "us-east-1",
        "cloudwatch.emitMetrics": false,
        "log.statusReportingPeriodSeconds": 10,
        "firetail.metrics.listen": "",
        "flows": [{
            "filePattern": pattern,
            "deliveryStream": DEMO_STREAM,
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000
        }]
    }))
    .unwrap_or_default()
}

/// Multiset comparison of generated lines against delivered lines.
pub fn compare(logs: &Path, s3: &Path) -> anyhow::Result<Verdict> {
    let mut counts: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut v = Verdict::default();
    for file in files_under(logs)? {
        v.files_generated += 1;
        for line in split_lines(
            &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
        ) {
            v.lines_generated += 1;
            *counts.entry(line.to_vec()).or_default() += 1;
        }
    }
    for file in files_under(s3)? {
        let raw = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let data = if file.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .with_context(|| format!("decompressing {}", file.display()))?;
            out
        } else {
            raw
        };
        for line in split_lines(&data) {
            v.lines_delivered += 1;
            *counts.entry(line.to_vec()).or_default() -= 1;
        }
    }
    for n in counts.values() {
        if *n > 0 {
            v.missing += *n as u64;
        } else {
            v.duplicates += n.unsigned_abs();
        }
    }
    Ok(v)
}

fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|b| *b == b'\n')
}

fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", d.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
