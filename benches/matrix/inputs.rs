//! The matrix's inputs and flows: what each row tails, where it sends, and what the endpoint
//! must have accepted when the row is done.
//!
//! Row 1's file comes from `firetail generate` and is kept for later runs (its name holds
//! size and seed); the fixed-size lines of rows 2-4 are written here, deterministically from
//! the seed, and deleted after their row unless `--keep-inputs`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::super::{count_lines, generate_with, Args, START_TIME};

/// `firetail generate --bot-share`: crawler lines are shorter than browsers' (short user
/// agents, no referrer); at 82 % the generator's average line is about 186 bytes (185.5 with
/// seed 42, 187.3 with seed 7), the size of the combined lines.
pub(crate) const BOT_SHARE: &str = "0.82";
/// Quiet files in the many-files row, and lines written to each before the daemon starts.
pub(crate) const QUIET_FILES: usize = 1000;
const QUIET_LINES_PER_FILE: u64 = 20;
/// Busy files in the many-files row, and lines per second written to each.
pub(crate) const BUSY_FILES: usize = 10;
pub(crate) const BUSY_RATE: u32 = 2000;

/// One input file.
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
    /// How it was made (a command line, or what the bench wrote).
    pub(crate) how: String,
}

impl Input {
    pub(crate) fn describe(&self) -> Value {
        json!({
            "path": self.path, "bytes": self.bytes, "lines": self.lines,
            "avg_line_bytes": self.bytes as f64 / self.lines.max(1) as f64,
            "how": self.how,
        })
    }
}

/// Where a flow sends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dest {
    Firehose,
    /// Kinesis Data Streams with this `partitionKeyOption`.
    Kinesis(&'static str),
}

/// One flow of the row's agent.json.
pub(crate) struct Flow {
    pub(crate) pattern: PathBuf,
    pub(crate) dest: Dest,
    pub(crate) stream: String,
    /// The keys the row is about, on top of the defaults.
    pub(crate) keys: Vec<(&'static str, Value)>,
}

/// The many-files row's layout.
pub(crate) struct ManyFiles {
    pub(crate) quiet_lines: u64,
    pub(crate) quiet_bytes: u64,
    pub(crate) busy: Vec<PathBuf>,
    pub(crate) busy_secs: u64,
}

/// One row: flows, endpoint flags, and what must be delivered.
pub(crate) struct Workload {
    pub(crate) row: &'static str,
    pub(crate) flows: Vec<Flow>,
    /// `local-firehose` flags besides `--discard` and the defaults.
    pub(crate) endpoint_extra: Vec<String>,
    /// Bytes the endpoint must accept (every input file's bytes: records are whole lines).
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
    /// Records it must accept, where each line is one record (not when aggregating).
    pub(crate) records: Option<u64>,
    /// The one input file `sha256sum` reads for the CPU ratio (rows with one input file).
    pub(crate) sha_file: Option<PathBuf>,
    pub(crate) inputs: Vec<Value>,
    /// Files and directories to delete after the row (unless `--keep-inputs`).
    owned: Vec<PathBuf>,
    /// Made for the row alone and deleted after it whatever `--keep-inputs` says.
    scratch: Vec<PathBuf>,
    pub(crate) many: Option<ManyFiles>,
}

impl Workload {
    fn single(row: &'static str, input: &Input, flow: Flow) -> Workload {
        Workload {
            row,
            flows: vec![flow],
            endpoint_extra: Vec::new(),
            bytes: input.bytes,
            lines: input.lines,
            records: Some(input.lines),
            sha_file: Some(input.path.clone()),
            inputs: vec![input.describe()],
            owned: Vec::new(),
            scratch: Vec::new(),
            many: None,
        }
    }

    /// Deletes what the row made; its own inputs too unless `keep`.
    pub(crate) fn remove_inputs(&self, keep: bool) {
        let doomed = self
            .scratch
            .iter()
            .chain(self.owned.iter().filter(|_| !keep));
        for path in doomed {
            let _ = std::fs::remove_dir_all(path);
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(path.with_extension("meta.json"));
        }
    }
}

fn firehose(pattern: &Path, stream: &str) -> Flow {
    Flow {
        pattern: pattern.to_path_buf(),
        dest: Dest::Firehose,
        stream: stream.into(),
        keys: Vec::new(),
    }
}

fn kinesis(pattern: &Path, stream: &str, key_option: &'static str) -> Flow {
    Flow {
        dest: Dest::Kinesis(key_option),
        ..firehose(pattern, stream)
    }
}

/// The row's workload, making its inputs if needed.
pub(crate) fn workload(args: &Args, work: &Path, row: &'static str, combined: &Input) -> Workload {
    let inputs = work.join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    match row {
        "combined" => Workload::single(row, combined, firehose(&combined.path, "bench")),
        "json5k" => {
            let input = fixed_lines(args, &inputs, "json5k", 5120, LineKind::Json);
            owned(
                Workload::single(row, &input, firehose(&input.path, "bench")),
                &input,
            )
        }
        "lines64k" => {
            let input = fixed_lines(args, &inputs, "lines64k", 65536, LineKind::Text);
            owned(
                Workload::single(row, &input, firehose(&input.path, "bench")),
                &input,
            )
        }
        "aggregated" => {
            let input = fixed_lines(args, &inputs, "lines200", 200, LineKind::Text);
            let mut flow = firehose(&input.path, "bench");
            flow.keys
                .push(("aggregatedRecordSizeBytes", json!(1_000_000)));
            let mut w = owned(Workload::single(row, &input, flow), &input);
            w.records = None;
            w
        }
        "many-files" => many_files(args, work),
        "four-flows" => four_flows(work, combined),
        "kinesis-random" => Workload::single(
            row,
            combined,
            kinesis(&combined.path, "bench-kds", "RANDOM"),
        ),
        "kinesis-deterministic" => Workload::single(
            row,
            combined,
            kinesis(&combined.path, "bench-kds", "DETERMINISTIC"),
        ),
        "slow-endpoint" => {
            let mut w = Workload::single(row, combined, firehose(&combined.path, "bench"));
            w.endpoint_extra = vec!["--latency".into(), "lognormal:median=80ms,p99=400ms".into()];
            w
        }
        other => panic!("no workload for row {other}"),
    }
}

fn owned(mut w: Workload, input: &Input) -> Workload {
    w.owned.push(input.path.clone());
    w
}

/// Row 1's file: combined lines of about 186 bytes, `--size` bytes rounded to whole lines,
/// made once per size and seed and reused.
pub(crate) fn combined(args: &Args, work: &Path) -> Input {
    let dir = work.join("inputs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("combined-{}-{}.log", args.size, args.seed));
    let extra = ["--bot-share", BOT_SHARE];
    let how = |count: u64| {
        format!(
            "firetail generate --rate max --start-time {START_TIME} --bot-share {BOT_SHARE} \
             --count {count} --seed {} -o {}",
            args.seed,
            path.display()
        )
    };
    if let Some((bytes, lines)) = cached(&path) {
        eprintln!("reusing {}", path.display());
        let how = how(lines);
        return Input {
            path,
            bytes,
            lines,
            how,
        };
    }
    // The generator's average line length decides the line count.
    let sample = dir.join("sample.log");
    generate_with(&sample, args.seed, 100_000, &extra);
    let (sbytes, slines) = count_lines(&sample);
    let _ = std::fs::remove_file(&sample);
    let count = (args.size as f64 / (sbytes as f64 / slines as f64)).ceil() as u64;
    eprintln!("generating {count} combined lines into {}", path.display());
    generate_with(&path, args.seed, count, &extra);
    let (bytes, lines) = count_lines(&path);
    remember(&path, bytes, lines);
    let how = how(count);
    Input {
        path,
        bytes,
        lines,
        how,
    }
}

/// (bytes, lines) of an input made earlier, if it is intact.
fn cached(path: &Path) -> Option<(u64, u64)> {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(path.with_extension("meta.json")).ok()?)
            .ok()?;
    let bytes = std::fs::metadata(path).ok()?.len();
    (meta["bytes"].as_u64() == Some(bytes)).then(|| (bytes, meta["lines"].as_u64().unwrap_or(0)))
}

fn remember(path: &Path, bytes: u64, lines: u64) {
    let meta = json!({"bytes": bytes, "lines": lines});
    std::fs::write(path.with_extension("meta.json"), meta.to_string()).unwrap();
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// A sequence number and filler text.
    Text,
    /// A JSON application-log event whose `context` member pads it.
    Json,
}

/// `--size` bytes of lines of exactly `len` bytes (newline included).
fn fixed_lines(args: &Args, dir: &Path, name: &str, len: usize, kind: LineKind) -> Input {
    let path = dir.join(format!("{name}-{}-{}.log", args.size, args.seed));
    let count = (args.size / len as u64).max(1);
    let how = format!(
        "benches/matrix/inputs.rs: {count} {} lines of exactly {len} bytes, seed {}",
        if kind == LineKind::Json {
            "JSON"
        } else {
            "text"
        },
        args.seed
    );
    if let Some((bytes, lines)) = cached(&path) {
        eprintln!("reusing {}", path.display());
        return Input {
            path,
            bytes,
            lines,
            how,
        };
    }
    eprintln!(
        "writing {count} lines of {len} bytes into {}",
        path.display()
    );
    let mut rng = XorShift(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let pool: Vec<u8> = (0..(1 << 20) + len).map(|_| rng.text_byte()).collect();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).unwrap());
    let mut line = Vec::with_capacity(len);
    for seq in 0..count {
        line.clear();
        let start = (rng.next() % (1 << 20)) as usize;
        match kind {
            LineKind::Text => text_line(&mut line, seq, len, &pool[start..]),
            LineKind::Json => json_line(&mut line, seq, len, &pool[start..], &mut rng),
        }
        assert_eq!(line.len(), len);
        out.write_all(&line).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let (bytes, lines) = count_lines(&path);
    assert_eq!((bytes, lines), (count * len as u64, count));
    remember(&path, bytes, lines);
    Input {
        path,
        bytes,
        lines,
        how,
    }
}

fn text_line(line: &mut Vec<u8>, seq: u64, len: usize, filler: &[u8]) {
    line.extend_from_slice(format!("{seq:012} ").as_bytes());
    let pad = len - 1 - line.len();
    line.extend_from_slice(&filler[..pad]);
    line.push(b'\n');
}

/// A JSON log event of a Java-style service, padded to `len` bytes by its `context` string.
fn json_line(line: &mut Vec<u8>, seq: u64, len: usize, filler: &[u8], rng: &mut XorShift) {
    const LEVELS: [&str; 4] = ["INFO", "INFO", "WARN", "DEBUG"];
    let millis = seq * 7;
    let head = format!(
        "{{\"ts\":\"2026-01-01T{:02}:{:02}:{:02}.{:03}Z\",\"level\":\"{}\",\"service\":\"checkout\",\
         \"logger\":\"com.example.checkout.OrderService\",\"thread\":\"http-nio-8080-exec-{}\",\
         \"trace_id\":\"{:016x}{:016x}\",\"seq\":{seq},\"msg\":\"order processed\",\"context\":\"",
        millis / 3_600_000 % 24,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000,
        LEVELS[(rng.next() % 4) as usize],
        rng.next() % 200,
        rng.next(),
        rng.next(),
    );
    line.extend_from_slice(head.as_bytes());
    let pad = len - line.len() - "\"}\n".len();
    line.extend_from_slice(&filler[..pad]);
    line.extend_from_slice(b"\"}\n");
}

/// xorshift64*: deterministic filler, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A byte of `[a-zA-Z0-9 ]`: valid in a JSON string and in a text line.
    fn text_byte(&mut self) -> u8 {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
        ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]
    }
}

/// Row 5: 1,000 quiet files of 20 combined lines (one generator run split up, so every file
/// differs) and 10 empty busy files, `logs/<name>/access.log`.
fn many_files(args: &Args, work: &Path) -> Workload {
    let root = work.join("many-files");
    let logs = root.join("logs");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&logs).unwrap();
    let all = root.join("quiet-source.log");
    let total = QUIET_FILES as u64 * QUIET_LINES_PER_FILE;
    generate_with(&all, args.seed, total, &["--bot-share", BOT_SHARE]);
    let text = std::fs::read(&all).unwrap();
    let _ = std::fs::remove_file(&all);
    let mut lines = text.split_inclusive(|b| *b == b'\n');
    for i in 0..QUIET_FILES {
        let dir = logs.join(format!("quiet-{i:04}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut f = File::create(dir.join("access.log")).unwrap();
        for line in lines.by_ref().take(QUIET_LINES_PER_FILE as usize) {
            f.write_all(line).unwrap();
        }
    }
    let busy = (0..BUSY_FILES)
        .map(|i| logs.join(format!("busy-{i:02}")).join("access.log"))
        .collect();
    // 60 s of writing per GiB of --size, at least 10 s: the scale of the other rows.
    let busy_secs = args
        .matrix
        .busy_secs
        .unwrap_or(((60 * args.size) >> 30).clamp(10, 600));
    Workload {
        row: "many-files",
        flows: vec![firehose(&logs.join("*").join("access.log*"), "bench")],
        endpoint_extra: Vec::new(),
        bytes: text.len() as u64,
        lines: total,
        records: Some(total),
        sha_file: None,
        inputs: vec![json!({
            "quiet_files": QUIET_FILES, "quiet_lines_each": QUIET_LINES_PER_FILE,
            "quiet_bytes": text.len(), "busy_files": BUSY_FILES,
            "busy_lines_per_sec_each": BUSY_RATE, "busy_secs": busy_secs,
            "how": format!("firetail generate --rate max --start-time {START_TIME} --bot-share {BOT_SHARE} --count {total} --seed {} split into {QUIET_FILES} files; busy files: firetail generate --rate {BUSY_RATE} --duration {busy_secs}s --bot-share {BOT_SHARE} --seed <seed+i> -o <file>, 10 at once", args.seed),
        })],
        owned: Vec::new(),
        scratch: vec![root],
        many: Some(ManyFiles {
            quiet_lines: total,
            quiet_bytes: text.len() as u64,
            busy,
            busy_secs,
        }),
    }
}

/// Row 6: four flows, each on its own hard link to row 1's file (own path, one copy on disk).
fn four_flows(work: &Path, combined: &Input) -> Workload {
    let root = work.join("four-flows");
    let _ = std::fs::remove_dir_all(&root);
    let flows: Vec<Flow> = [
        ("firehose-1", Dest::Firehose),
        ("firehose-2", Dest::Firehose),
        ("kinesis-random", Dest::Kinesis("RANDOM")),
        ("kinesis-deterministic", Dest::Kinesis("DETERMINISTIC")),
    ]
    .into_iter()
    .map(|(name, dest)| {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("access.log");
        std::fs::hard_link(&combined.path, &link).unwrap();
        Flow {
            pattern: link,
            dest,
            stream: format!("bench-{name}"),
            keys: Vec::new(),
        }
    })
    .collect();
    let n = flows.len() as u64;
    Workload {
        row: "four-flows",
        flows,
        endpoint_extra: Vec::new(),
        bytes: n * combined.bytes,
        lines: n * combined.lines,
        records: Some(n * combined.lines),
        sha_file: None,
        inputs: vec![json!({"hard_links_to": combined.describe(), "flows": n})],
        owned: Vec::new(),
        scratch: vec![root],
        many: None,
    }
}
