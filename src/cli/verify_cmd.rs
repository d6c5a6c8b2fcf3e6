//! `osa verify --date D [--run R] [--json]`: a night's recorded products hashed again and its
//! product folders listed (`provenance::integrity`); exit 22 when anything differs.

use super::output::print_json;
use super::{Context, Outcome};
use crate::db::Db;
use crate::night::NightDate;
use crate::paths::Layout;
use crate::provenance::integrity::check_night;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub date: NightDate,
    /// One run only.
    #[arg(long)]
    pub run: Option<u32>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(context: &Context, args: VerifyArgs) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
    let layout = Layout::new(&config);
    let report = check_night(&db, args.date, args.run, &layout.product_dirs(args.date))?;
    if args.json {
        print_json(&report)?;
    } else {
        for finding in &report.findings {
            println!("{finding}");
        }
        println!(
            "night {}{}: {} recorded product(s) hashed again, {} file(s) listed, {} difference(s)",
            report.date,
            report.run.map(|r| format!(" run {r:05}")).unwrap_or_default(),
            report.checked,
            report.listed,
            report.findings.len()
        );
    }
    Ok(if report.findings.is_empty() { Outcome::Success } else { Outcome::ProductsDiffer })
}
