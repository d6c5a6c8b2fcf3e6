//! `osa config check|show`.

use anyhow::Context as _;

use super::{Context, Outcome};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file: unknown keys and bad values, each named by its key.
    Check,
    /// Print the effective configuration (file + environment overrides), password hidden.
    Show,
}

pub fn run(context: &Context, command: ConfigCommand) -> anyhow::Result<Outcome> {
    let config = context.config().with_context(|| format!("config {}", context.config_source))?;
    match command {
        ConfigCommand::Check => {
            println!("config OK: {}", context.config_source);
            let root = &config.paths.data_root;
            if !root.is_dir() {
                println!("note: data root {} does not exist (yet)", root.display());
            }
        }
        ConfigCommand::Show => {
            println!("# source: {}", context.config_source);
            print!("{}", config.to_toml());
        }
    }
    Ok(Outcome::Success)
}
