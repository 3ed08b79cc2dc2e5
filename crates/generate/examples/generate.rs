//! Runs the generator with `firetail generate`'s flags, for timing before the CLI is wired:
//! `cargo run --release -p firetail-generate --example generate -- --rate max --count 10000000 -o /tmp/gen.log`

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: firetail_generate::GenerateArgs,
}

fn main() {
    let cli = Cli::parse();
    let started = std::time::Instant::now();
    match firetail_generate::run(&cli.args) {
        Ok(summary) => {
            let secs = started.elapsed().as_secs_f64();
            if summary.lines > 0 {
                eprintln!(
                    "{} lines, {} bytes in {secs:.3} s: {:.0} lines/s, {:.1} MiB/s",
                    summary.lines,
                    summary.bytes,
                    summary.lines as f64 / secs,
                    summary.bytes as f64 / secs / (1024.0 * 1024.0)
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
