//! `osa db migrate|status [--url URL]`.

use super::output::print_json;
use super::{Context, Outcome};
use crate::db::Db;

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Create the database if the server has none of that name, then apply pending migrations.
    Migrate(DbArgs),
    /// Show the backend and the applied and pending migrations.
    Status(DbArgs),
}

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// Database URL (default: $OSA_DATABASE_URL, then the config's database.url, then SQLite
    /// under the data root).
    #[arg(long)]
    pub url: Option<String>,
    /// JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(context: &Context, command: DbCommand) -> anyhow::Result<Outcome> {
    let (DbCommand::Migrate(args) | DbCommand::Status(args)) = &command;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => context.config()?.database_url(),
    };
    // Rows from before productions are given the configured one: a config that does not load
    // is an error here, not a silent default production.
    let production = context.config()?.analysis.prod_id;
    // Only `migrate` creates the database; `status` of a mistyped URL says it does not exist.
    let db = match command {
        DbCommand::Migrate(_) => Db::connect_creating(&url, &production)?,
        DbCommand::Status(_) => Db::connect(&url, &production)?,
    };
    match command {
        DbCommand::Migrate(args) => {
            let applied = db.migrate()?;
            if args.json {
                print_json(&serde_json::json!({"url": db.url().redacted(), "applied": applied}))?;
            } else if applied.is_empty() {
                println!("{}: up to date", db.url().redacted());
            } else {
                println!("{}: applied {}", db.url().redacted(), applied.join(", "));
            }
        }
        DbCommand::Status(args) => {
            let status = db.migration_status()?;
            if args.json {
                print_json(&status)?;
            } else {
                println!("database:  {} ({})", status.url, status.backend);
                println!("applied:   {}", if status.applied.is_empty() { "none".to_string() } else { status.applied.join(", ") });
                println!("pending:   {}", if status.pending.is_empty() { "none".to_string() } else { status.pending.join(", ") });
                if !status.pending.is_empty() {
                    println!("run `osa db migrate` to apply the pending migrations");
                }
            }
        }
    }
    Ok(Outcome::Success)
}
