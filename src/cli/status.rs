//! `firetail status`: asks a running daemon how it is doing (`GET /status` on its
//! metrics endpoint) and prints it per flow and per file, as JSON, or again and again.
//!
//! The exit code follows the Nagios plugin convention, so the command doubles as a
//! monitoring check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the daemon cannot be asked).
//! The first line of the table is a Nagios status line.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;

use crate::telemetry::snapshot::{human_age, human_bytes, human_rate, Health, StatusSnapshot};

/// Nagios: the daemon could not be asked, or answered nonsense.
const EXIT_UNKNOWN: u8 = 3;
/// The daemon's address when no configuration says otherwise (the shipped default).
const DEFAULT_ENDPOINT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9898);
/// Connecting and each read or write; a daemon slower than this is not answering.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Far above any real answer; stops a stranger on the port from filling memory.
const MAX_RESPONSE: u64 = 16 << 20;
/// The Kinesis Agent's "behind" WARN level (40 MiB), the default warning threshold.
const DEFAULT_WARN_BEHIND: u64 = 41_943_040;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: crate::cli::ConfigArg,
    /// The daemon's metrics endpoint, HOST:PORT or http://HOST:PORT. Default: agent.json's
    /// `firetail.metrics.listen`, else 127.0.0.1:9898.
    #[arg(long, value_name = "ADDR")]
    pub endpoint: Option<String>,
    /// Print the status as JSON (the daemon's `/status` answer plus the verdict).
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Refresh the table in place every --interval seconds until interrupted.
    #[arg(short, long)]
    pub watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub interval: f64,
    /// WARNING when a flow is this many bytes behind or more (default: 40 MiB, where the
    /// Kinesis Agent's "behind" line turns into a WARN).
    #[arg(long, default_value_t = DEFAULT_WARN_BEHIND, value_name = "BYTES")]
    pub warn_behind: u64,
}

pub fn run(args: StatusArgs) -> ExitCode {
    let endpoint = match endpoint(&args) {
        Ok(e) => e,
        Err(e) => return unknown(&e),
    };
    if args.watch {
        return watch(&args, endpoint);
    }
    let snapshot = match fetch(endpoint) {
        Ok(s) => s,
        Err(e) => return unknown(&e),
    };
    let (health, reasons) = snapshot.health(args.warn_behind);
    if args.json {
        let out = JsonOut {
            health: health.label(),
            reasons: &reasons,
            status: &snapshot,
        };
        match serde_json::to_string_pretty(&out) {
            Ok(text) => println!("{text}"),
            Err(e) => return unknown(&anyhow::anyhow!("cannot print JSON: {e}")),
        }
    } else {
        print!("{}", render(&snapshot, endpoint, health, &reasons));
    }
    ExitCode::from(exit_code(health))
}

/// What `--json` prints: the verdict, then the daemon's answer as it came.
#[derive(Serialize)]
struct JsonOut<'a> {
    health: &'static str,
    reasons: &'a [String],
    #[serde(flatten)]
    status: &'a StatusSnapshot,
}

fn exit_code(health: Health) -> u8 {
    match health {
        Health::Ok => 0,
        Health::Warning => 1,
        Health::Critical => 2,
    }
}

fn unknown(e: &anyhow::Error) -> ExitCode {
    println!("FIRETAIL UNKNOWN - {e:#}");
    ExitCode::from(EXIT_UNKNOWN)
}

/// Redraws the table every interval; a failed fetch is shown in place of the table and
/// retried, since the daemon may just be restarting.
fn watch(args: &StatusArgs, endpoint: SocketAddr) -> ExitCode {
    let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 3600.0));
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let screen = match fetch(endpoint) {
            Ok(snapshot) => {
                let (health, reasons) = snapshot.health(args.warn_behind);
                render(&snapshot, endpoint, health, &reasons)
            }
            Err(e) => format!("FIRETAIL UNKNOWN - {e:#}\n"),
        };
        let mut out = std::io::stdout().lock();
        // Home, then clear to the end: the new table overwrites the old one without the
        // flicker of clearing first. Piped output gets one table after another.
        let written = if tty {
            write!(out, "\x1b[H{screen}\x1b[J")
        } else {
            writeln!(out, "{screen}")
        };
        if written.and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS; // the reader went away (a closed pipe)
        }
        drop(out);
        std::thread::sleep(interval);
    }
}

/// The address to ask: `--endpoint`, else the configuration's `firetail.metrics.listen`
/// (a wildcard bind is asked on loopback), else the default.
fn endpoint(args: &StatusArgs) -> anyhow::Result<SocketAddr> {
    if let Some(e) = &args.endpoint {
        return parse_endpoint(e);
    }
    let candidates = firetail_config::default_config_candidates();
    let path = match firetail_config::resolve_config_path(args.config.path(), &candidates) {
        Ok(p) => p,
        Err(_) if args.config.path.is_none() => return Ok(DEFAULT_ENDPOINT),
        Err(e) => bail!("{e}"),
    };
    let listen = configured_listen(&path)?;
    let Some(addr) = listen else {
        bail!(
            "the metrics endpoint is disabled in {} (firetail.metrics.listen is \"\")",
            path.display()
        );
    };
    Ok(loopback_for(addr))
}

fn configured_listen(path: &Path) -> anyhow::Result<Option<SocketAddr>> {
    match firetail_config::load(path) {
        Ok(loaded) => Ok(loaded.settings.metrics_listen),
        Err(errors) => bail!("{} is not a valid configuration: {errors}", path.display()),
    }
}

/// A daemon bound to 0.0.0.0 or [::] is reached on the loopback address of that family.
fn loopback_for(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

fn parse_endpoint(text: &str) -> anyhow::Result<SocketAddr> {
    let bare = text.strip_prefix("http://").unwrap_or(text);
    let bare = bare.split('/').next().unwrap_or(bare);
    bare.to_socket_addrs()
        .with_context(|| format!("--endpoint {text:?}: expected HOST:PORT"))?
        .next()
        .with_context(|| format!("--endpoint {text:?} resolves to no address"))
}

/// `GET /status`, parsed.
pub fn fetch(addr: SocketAddr) -> anyhow::Result<StatusSnapshot> {
    let body = http_get(addr, "/status")
        .with_context(|| format!("cannot ask the daemon at http://{addr}/status"))?;
    serde_json::from_slice(&body)
        .with_context(|| format!("http://{addr}/status did not answer a firetail status"))
}

/// A one-shot HTTP/1.1 GET with `Connection: close`; the body of a 200 answer.
fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).map_err(io_error)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .map_err(io_error)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .map_err(io_error)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        bail!("the daemon answered {status_line:?} (a firetail older than `firetail status`?)");
    }
    if lines.any(|h| {
        let h = h.to_ascii_lowercase();
        h.starts_with("transfer-encoding:") && h.contains("chunked")
    }) {
        bail!("chunked answers are not supported");
    }
    Ok(raw[split + 4..].to_vec())
}

/// A timed-out socket says "Resource temporarily unavailable"; say what it means.
fn io_error(e: std::io::Error) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => anyhow::anyhow!(
            "no answer within {} s (the daemon is not responding)",
            HTTP_TIMEOUT.as_secs()
        ),
        _ => e.into(),
    }
}

/// The whole screen: the Nagios line, the reasons behind it, the daemon, the flows and
/// their files.
pub fn render(
    s: &StatusSnapshot,
    endpoint: SocketAddr,
    health: Health,
    reasons: &[String],
) -> String {
    let mut out = format!("FIRETAIL {} - {}\n", health.label(), s.one_line());
    for r in reasons {
        let _ = writeln!(out, "  ! {r}");
    }
    let _ = writeln!(
        out,
        "firetail {}, pid {}, up {}, at http://{endpoint}/status",
        s.version,
        s.pid,
        human_age(s.uptime_seconds)
    );
    if let Some(cp) = &s.checkpoints {
        let state = match &cp.error {
            Some(e) if !cp.saved => format!("NOT SAVED ({e})"),
            _ => "saved".to_owned(),
        };
        let written = cp.written_seconds_ago.map_or_else(
            || "not written yet".to_owned(),
            |a| format!("written {} ago", human_age(a)),
        );
        let _ = writeln!(out, "checkpoints {}: {state}, {written}", cp.path);
    }
    out.push('\n');
    out.push_str(&flow_table(s));
    out.push('\n');
    out.push_str(&file_table(s));
    out
}

fn flow_table(s: &StatusSnapshot) -> String {
    let mut t = Table::new(&[
        ("FLOW", Align::Left),
        ("DESTINATION", Align::Left),
        ("STATE", Align::Left),
        ("SENT", Align::Right),
        ("REC/S", Align::Right),
        ("BEHIND", Align::Right),
        ("LAST SEND", Align::Right),
        ("LAST ERROR", Align::Left),
    ]);
    for f in &s.flows {
        t.row(vec![
            f.id.clone(),
            f.destination.clone(),
            if f.ready { "ready" } else { "NOT READY" }.to_owned(),
            f.records_sent.to_string(),
            f.records_per_second
                .map_or_else(|| "-".to_owned(), human_rate),
            human_bytes(f.bytes_behind),
            f.seconds_since_last_send
                .map_or_else(|| "never".to_owned(), |a| format!("{} ago", human_age(a))),
            f.last_error.as_ref().map_or_else(
                || "-".to_owned(),
                |e| format!("{} ago: {}", human_age(e.seconds_ago), e.message),
            ),
        ]);
    }
    t.render()
}

fn file_table(s: &StatusSnapshot) -> String {
    let mut t = Table::new(&[
        ("FLOW / FILE", Align::Left),
        ("SIZE", Align::Right),
        ("READ OFFSET", Align::Right),
        ("ACKED OFFSET", Align::Right),
        ("BEHIND", Align::Right),
        ("CHECKPOINT AGE", Align::Right),
        ("", Align::Left),
    ]);
    for f in &s.flows {
        t.section(&f.id);
        if f.files.is_empty() {
            t.section("  (no file matches yet)");
        }
        for file in &f.files {
            let mut notes = Vec::new();
            if file.rotated_away {
                notes.push("rotated away");
            }
            if !file.open {
                notes.push("closed");
            }
            t.row(vec![
                format!("  {}", file.path),
                file.size.to_string(),
                file.read_offset.to_string(),
                file.acked_offset.to_string(),
                human_bytes(file.bytes_behind),
                file.checkpoint_age_seconds
                    .map_or_else(|| "-".to_owned(), human_age),
                notes.join(", "),
            ]);
        }
    }
    t.render()
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Columns sized to their widest cell; section rows are printed as they are, between.
struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Row>,
}

enum Row {
    Cells(Vec<String>),
    Section(String),
}

impl Table {
    fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Row::Cells(cells));
    }

    fn section(&mut self, text: &str) {
        self.rows.push(Row::Section(text.to_owned()));
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|(h, _)| h.chars().count())
            .collect();
        for row in &self.rows {
            if let Row::Cells(cells) = row {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let headers: Vec<String> = self.columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        let mut out = self.line(&headers, &widths);
        for row in &self.rows {
            match row {
                Row::Cells(cells) => out.push_str(&self.line(cells, &widths)),
                Row::Section(text) => {
                    out.push_str(text);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn line(&self, cells: &[String], widths: &[usize]) -> String {
        let mut line = String::new();
        for ((cell, width), (_, align)) in cells.iter().zip(widths).zip(&self.columns) {
            let pad = width.saturating_sub(cell.chars().count());
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
                Align::Right => {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
            }
            line.push_str("  ");
        }
        line.truncate(line.trim_end().len());
        line.push('\n');
        line
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::telemetry::snapshot::{CheckpointSnapshot, FileSnapshot, FlowSnapshot};

    #[test]
    fn endpoints_parse_with_or_without_scheme_and_wildcards_become_loopback() {
        let want: SocketAddr = "127.0.0.1:9898".parse().unwrap();
        assert_eq!(parse_endpoint("127.0.0.1:9898").unwrap(), want);
        assert_eq!(
            parse_endpoint("http://127.0.0.1:9898/status").unwrap(),
            want
        );
        assert!(parse_endpoint("no-port").is_err());
        assert_eq!(loopback_for("0.0.0.0:9898".parse().unwrap()), want);
        assert_eq!(
            loopback_for("[::]:7".parse().unwrap()),
            "[::1]:7".parse::<SocketAddr>().unwrap()
        );
        let specific: SocketAddr = "10.1.2.3:9898".parse().unwrap();
        assert_eq!(loopback_for(specific), specific);
    }

    #[test]
    fn the_table_lines_up_flows_and_files() {
        let s = StatusSnapshot {
            version: "9.9.9".into(),
            pid: 42,
            uptime_seconds: 3725.0,
            ready: true,
            checkpoints: Some(CheckpointSnapshot {
                path: "/var/lib/firetail/checkpoints.json".into(),
                saved: true,
                error: None,
                written_seconds_ago: Some(2.0),
            }),
            flows: vec![FlowSnapshot {
                id: "fh:web:/var/log/apache2/access.log*".into(),
                destination: "DeliveryStream:web".into(),
                ready: true,
                reason: "delivering".into(),
                records_sent: 1200,
                records_per_second: Some(40.0),
                bytes_behind: 1000,
                seconds_since_last_send: Some(1.0),
                files: vec![
                    FileSnapshot {
                        path: "/var/log/apache2/access.log".into(),
                        size: 5000,
                        read_offset: 5000,
                        acked_offset: 4000,
                        bytes_behind: 1000,
                        open: true,
                        checkpoint_age_seconds: Some(3.0),
                        ..Default::default()
                    },
                    FileSnapshot {
                        path: "/var/log/apache2/access.log.1".into(),
                        size: 70,
                        read_offset: 70,
                        acked_offset: 70,
                        open: false,
                        rotated_away: true,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        };
        let endpoint = "127.0.0.1:9898".parse().unwrap();
        let (health, reasons) = s.health(DEFAULT_WARN_BEHIND);
        let text = render(&s, endpoint, health, &reasons);
        let expected = "\
FIRETAIL OK - 1 flow (1 ready), 40.0 records/s, 1000 B behind, last error: none
firetail 9.9.9, pid 42, up 1h02m, at http://127.0.0.1:9898/status
checkpoints /var/lib/firetail/checkpoints.json: saved, written 2s ago

FLOW                                 DESTINATION         STATE  SENT  REC/S  BEHIND  LAST SEND  LAST ERROR
fh:web:/var/log/apache2/access.log*  DeliveryStream:web  ready  1200   40.0  1000 B     1s ago  -

FLOW / FILE                      SIZE  READ OFFSET  ACKED OFFSET  BEHIND  CHECKPOINT AGE
fh:web:/var/log/apache2/access.log*
  /var/log/apache2/access.log    5000         5000          4000  1000 B              3s
  /var/log/apache2/access.log.1    70           70            70     0 B               -  rotated away, closed
";
        assert_eq!(text, expected, "\n{text}");
        assert_eq!(exit_code(health), 0);
    }

    #[test]
    fn a_non_firetail_answer_is_unknown_not_a_panic() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in ["HTTP/1.1 404 Not Found\r\n\r\nnope", "garbage"] {
                let (mut s, _) = listener.accept().unwrap();
                // The whole request first: closing with unread bytes would reset the
                // connection instead of ending it.
                let mut request = Vec::new();
                let mut buf = [0u8; 256];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "the client hung up mid-request");
                    request.extend_from_slice(&buf[..n]);
                }
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let e = fetch(addr).unwrap_err();
        assert!(format!("{e:#}").contains("404"), "{e:#}");
        let e = fetch(addr).unwrap_err();
        assert!(format!("{e:#}").contains("end of headers"), "{e:#}");
        server.join().unwrap();
    }
}
