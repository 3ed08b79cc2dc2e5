//! `firetail preview`: what a flow would send for a file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use clap::{Args, ValueEnum};

use crate::cli::{EXIT_CONFIG, EXIT_RUNTIME, EXIT_USAGE};
use crate::preview::{PreviewFlow, PreviewRecord};

// The whole file is read from its first byte whatever `initialPosition` says; the
// subcommand's long help (src/cli/mod.rs) tells the user.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// One `flows[]` entry of agent.json, as JSON (its filePattern and stream names
    /// only decide the destination type and limits).
    #[arg(long, value_name = "FLOW.json")]
    pub flow: PathBuf,
    /// A `dataProcessingOptions` array replacing the flow's own.
    #[arg(long, value_name = "OPTIONS.json")]
    pub options: Option<PathBuf>,
    /// Read the file as if it grew in these byte steps (comma-separated sizes).
    #[arg(long, value_delimiter = ',', value_name = "N1,N2,...")]
    pub arrival: Option<Vec<usize>>,
    /// `human` prints records readably; `jsonl` prints one JSON object per record:
    /// {"index","offset","length","status","output_b64"}.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The log file to preview.
    pub file: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Human,
    Jsonl,
}

pub fn run(args: PreviewArgs) -> ExitCode {
    let flow_text = match std::fs::read_to_string(&args.flow) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("firetail preview: cannot read {}: {e}", args.flow.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let options = match &args.options {
        None => None,
        Some(path) => {
            let parsed = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(v) => Some(v),
                Err(e) => {
                    eprintln!("firetail preview: {}: {e}", path.display());
                    return ExitCode::from(EXIT_CONFIG);
                }
            }
        }
    };
    // Wrapped on its first line, so the configuration parser (comments, coercion, error
    // locations) sees the flow exactly as agent.json would hold it.
    let agent_json = format!("{{\"flows\":[{flow_text}\n]}}");
    let origin = args.flow.display().to_string();
    let preview = match PreviewFlow::from_agent_json(&agent_json, &origin, options, None) {
        Ok(p) => p.from_start(),
        Err(e) => {
            eprintln!("firetail preview: {origin}: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let input = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("firetail preview: cannot read {}: {e}", args.file.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some(steps) = &args.arrival {
        if steps.iter().sum::<usize>() != input.len() {
            eprintln!(
                "firetail preview: --arrival steps sum to {}, but the file has {} bytes",
                steps.iter().sum::<usize>(),
                input.len()
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let records = match preview.run(&input, args.arrival.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("firetail preview: {e:#}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = records.iter().try_for_each(|r| match args.format {
        Format::Jsonl => writeln!(out, "{}", jsonl(r)),
        Format::Human => human(&mut out, r),
    });
    match written.and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is a normal way to stop reading.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firetail preview: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn jsonl(r: &PreviewRecord) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut v = serde_json::json!({
        "index": r.index,
        "offset": r.offset,
        "length": r.length,
        "status": r.status.as_str(),
        "output_b64": r.output.as_ref().map(|o| b64.encode(o)),
    });
    if r.truncated {
        v["truncated"] = true.into();
    }
    if let Some(k) = &r.partition_key {
        v["partition_key"] = k.as_str().into();
    }
    v
}

fn human(out: &mut impl Write, r: &PreviewRecord) -> std::io::Result<()> {
    let trunc = if r.truncated { ", truncated" } else { "" };
    writeln!(
        out,
        "#{} bytes {}..{} {}{trunc}",
        r.index,
        r.offset,
        r.offset + r.length,
        r.status.as_str()
    )?;
    match &r.output {
        Some(data) => {
            let text = String::from_utf8_lossy(data);
            for line in text.split_inclusive('\n') {
                writeln!(out, "  | {}", line.escape_debug())?;
            }
        }
        None => writeln!(out, "  (nothing sent)")?,
    }
    Ok(())
}
