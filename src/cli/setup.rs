//! `firetail setup`: create the raw delivery streams of agent.json's flows, or (`setup
//! render`) fill the pipeline templates. The work is in [`crate::setup`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::{EXIT_CONFIG, EXIT_RUNTIME, EXIT_USAGE};
use crate::setup::{self, SetupOptions, StreamOutcome, TemplateSet, TestRecord};

/// Creates (idempotently) the Firehose delivery stream of every flow with a
/// `deliveryStream`: Direct PUT to S3, date-partitioned and GZIP, then waits for ACTIVE
/// and sends a test record to each stream it created. A stream that exists with the
/// same bucket is reported as "exists" and left alone.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SetupArgs {
    #[command(subcommand)]
    pub command: Option<SetupCommand>,
    #[command(flatten)]
    pub streams: StreamArgs,
}

#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Fill the pipeline templates (IAM, Firehose, Kinesis, analytics, OpenSearch) for
    /// `aws ... --cli-input-json file://...`; see docs/pipeline.md.
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    #[command(flatten)]
    pub config: crate::cli::ConfigArg,
    /// S3 bucket the raw streams write to (name, not ARN; it must exist).
    #[arg(long, required = true)]
    pub bucket: Option<String>,
    /// IAM role Firehose assumes to write the bucket (config/aws/iam/firehose-delivery-role.json).
    #[arg(long, required = true, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Only these delivery streams (repeatable; each must be a flow's deliveryStream).
    #[arg(long = "stream", value_name = "NAME")]
    pub streams: Vec<String>,
    /// S3 key prefix (Firehose expressions allowed).
    #[arg(long, default_value = "raw/!{timestamp:yyyy/MM/dd/HH}/")]
    pub s3_prefix: String,
    /// S3 key prefix for records Firehose could not deliver.
    #[arg(
        long,
        default_value = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
    )]
    pub error_prefix: String,
    /// Seconds to wait for each stream to become ACTIVE.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub wait_timeout: u64,
    /// When to send the test record `firetail setup test record`.
    #[arg(long, value_enum, default_value_t = TestRecordArg::OnCreate)]
    pub test_record: TestRecordArg,
    /// Print what would be created; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TestRecordArg {
    /// Only to streams this run created.
    OnCreate,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// AWS account id (12 digits).
    #[arg(long, value_name = "ID")]
    pub account: String,
    /// AWS region of every resource.
    #[arg(long)]
    pub region: String,
    /// Name prefix of every resource (lowercase letters, digits, hyphens).
    #[arg(long)]
    pub prefix: String,
    /// CIDR allowed to reach OpenSearch Dashboards unsigned (your office or VPN).
    #[arg(long, value_name = "CIDR")]
    pub dashboards_cidr: Option<String>,
    /// Any other placeholder (repeatable), e.g. `--set OpenSearchInstanceType=r6g.large.search`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Templates to render instead of the ones built into firetail (a `config/aws` copy).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Output directory (created; files are overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: SetupArgs) -> ExitCode {
    match args.command {
        Some(SetupCommand::Render(render)) => run_render(render),
        None => run_streams(args.streams),
    }
}

fn run_streams(args: StreamArgs) -> ExitCode {
    let settings = match crate::cli::check_config::load_and_validate(args.config.path()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (Some(bucket), Some(role_arn)) = (args.bucket, args.role_arn) else {
        eprintln!("firetail setup: --bucket and --role-arn are required");
        return ExitCode::from(EXIT_USAGE);
    };
    let mut opts = SetupOptions::new(bucket, role_arn);
    opts.prefix = args.s3_prefix;
    opts.error_prefix = args.error_prefix;
    opts.wait_timeout = Duration::from_secs(args.wait_timeout);
    opts.dry_run = args.dry_run;
    opts.test_record = match args.test_record {
        TestRecordArg::OnCreate => TestRecord::OnCreate,
        TestRecordArg::Always => TestRecord::Always,
        TestRecordArg::Never => TestRecord::Never,
    };
    let mut names = setup::raw_delivery_streams(&settings);
    if !args.streams.is_empty() {
        if let Some(unknown) = args.streams.iter().find(|s| !names.contains(s)) {
            eprintln!(
                "firetail setup: no flow sends to {unknown}; the flows' delivery streams are: {}",
                names.join(", ")
            );
            return ExitCode::from(EXIT_USAGE);
        }
        names.retain(|n| args.streams.contains(n));
    }
    if names.is_empty() {
        eprintln!("firetail setup: {}", setup::SetupError::NoFirehoseFlows);
        return ExitCode::from(EXIT_CONFIG);
    }
    if opts.dry_run {
        for name in &names {
            println!(
                "would ensure delivery stream {name}: Direct PUT -> s3://{}/{} (errors: {}), GZIP, role {}",
                opts.bucket, opts.prefix, opts.error_prefix, opts.role_arn
            );
        }
    }
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        let mut only = settings.clone();
        only.flows.retain(|f| {
            matches!(&f.destination, firetail_config::Destination::Firehose { delivery_stream } if names.contains(delivery_stream))
        });
        setup::setup_streams_for(&only, &opts).await
    });
    match result {
        Ok(reports) => {
            for r in &reports {
                println!("{r}");
            }
            let created = reports
                .iter()
                .filter(|r| r.outcome == StreamOutcome::Created)
                .count();
            if created > 0 && !opts.dry_run {
                println!(
                    "test records land in s3://{}/ after the buffering interval (up to 300 s)",
                    opts.bucket
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("firetail setup: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn run_render(args: RenderArgs) -> ExitCode {
    let mut values = BTreeMap::new();
    values.insert("AccountId".to_string(), args.account);
    values.insert("Region".to_string(), args.region);
    values.insert("Prefix".to_string(), args.prefix);
    if let Some(cidr) = args.dashboards_cidr {
        values.insert("DashboardsCidr".to_string(), cidr);
    }
    for pair in &args.set {
        let Some((name, value)) = pair.split_once('=') else {
            eprintln!("firetail setup render: --set {pair:?}: expected NAME=VALUE");
            return ExitCode::from(EXIT_USAGE);
        };
        values.insert(name.to_string(), value.to_string());
    }
    let templates = match &args.templates {
        None => TemplateSet::embedded(),
        Some(dir) => match TemplateSet::from_dir(dir) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("firetail setup render: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    match setup::render_to_dir(&templates, &values, &args.out) {
        Ok(written) => {
            println!(
                "rendered {} files into {}; next: docs/pipeline.md",
                written.len(),
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("firetail setup render: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
