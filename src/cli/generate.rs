//! `firetail generate`, and the same generator configured from `agent.json`.

use std::process::ExitCode;

use firetail_config::{GeneratorFormat, GeneratorSettings, RotateMode as CfgRotate};
use firetail_generate::{Format, GenerateArgs, GeneratorConfig, Rate, RotateMode, RotationPolicy};

pub fn run(args: &GenerateArgs) -> ExitCode {
    match firetail_generate::run(args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firetail generate: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

/// The generator an `agent.json` `firetail.generators` entry describes.
pub fn config_from_settings(g: &GeneratorSettings) -> anyhow::Result<GeneratorConfig> {
    let mut cfg = GeneratorConfig::new(&g.path, Rate::PerSecond(f64::from(g.rate)));
    cfg.realism.format = match g.format {
        GeneratorFormat::Combined => Format::Combined,
        GeneratorFormat::Common => Format::Common,
    };
    cfg.realism.bot_share = g.bot_share;
    if let Some(seed) = g.seed {
        cfg.seed = seed;
    } else {
        cfg.seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    }
    let mode = match g.rotate_mode {
        CfgRotate::None => None,
        CfgRotate::Rename => Some(RotateMode::Rename),
        CfgRotate::CopyTruncate => Some(RotateMode::Copytruncate),
        CfgRotate::Dated => Some(RotateMode::Dated),
    };
    cfg.rotation = mode.map(|mode| RotationPolicy {
        mode,
        max_bytes: g.rotate_size_bytes,
        interval: g.rotate_interval,
        keep: g.keep as usize,
    });
    cfg.validate()?;
    Ok(cfg)
}
