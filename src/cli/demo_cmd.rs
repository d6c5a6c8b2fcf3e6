//! `osa demo make-night`: lay out a synthetic night under a data root.

use std::path::PathBuf;

use anyhow::Context as _;
use comfy_table::Cell;

use super::output::{or_dash, print_json, table};
use super::{Context, Outcome};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::{ConfigSource, ENV_DATABASE_URL, ENV_EXECUTOR};
use crate::daemon::DaemonOptions;
use crate::db::Db;
use crate::demo::{DemoOptions, install_simulator, make_night};
use crate::model::ExecutorKind;

use crate::night::NightDate;
use crate::paths::Layout;

#[derive(Debug, clap::Subcommand)]
pub enum DemoCommand {
    /// Write a whole synthetic night (R0 files + summaries) under the data root DIR.
    MakeNight(MakeNightArgs),
    /// Run a synthetic night end to end (made if missing) with the analysis simulator:
    /// SQLite and the local executor unless OSA_DATABASE_URL / OSA_EXECUTOR say otherwise.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub night: MakeNightArgs,
    /// Give up after this many minutes.
    #[arg(long, default_value_t = 20)]
    pub timeout_minutes: u64,
}

#[derive(Debug, clap::Args)]
pub struct MakeNightArgs {
    /// Data root to lay the night out under (created if missing).
    #[arg(long, value_name = "ROOT")]
    pub dir: PathBuf,
    /// The night, YYYY-MM-DD.
    #[arg(long)]
    pub date: NightDate,
    /// Number of DATA runs (one DRS4 and one PEDCALIB run come on top).
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
    /// Subruns per DATA run.
    #[arg(long, default_value_t = 4)]
    pub subruns: u32,
    /// Events per subrun file.
    #[arg(long, default_value_t = 500)]
    pub events: u32,
    /// Seed of the event-type draws (same seed, same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First run number (default: derived from the date).
    #[arg(long)]
    pub first_run: Option<u32>,
    /// Replace files that exist with other content.
    #[arg(long)]
    pub force: bool,
    /// JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(context: &Context, command: DemoCommand) -> anyhow::Result<Outcome> {
    match command {
        DemoCommand::MakeNight(args) => make(context, args),
        DemoCommand::Run(args) => run_night(context, args),
    }
}

fn options(args: &MakeNightArgs) -> DemoOptions {
    DemoOptions { data_runs: args.runs, subruns: args.subruns, events: args.events, seed: args.seed, first_run: args.first_run, force: args.force }
}

fn make(context: &Context, args: MakeNightArgs) -> anyhow::Result<Outcome> {
    let mut config = context.config()?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating data root {}", args.dir.display()))?;
    config.paths.data_root = std::path::absolute(&args.dir).with_context(|| format!("resolving {}", args.dir.display()))?;
    let layout = Layout::new(&config);
    let night = make_night(&layout, args.date, &options(&args)).with_context(|| format!("making demo night {}", args.date))?;
    if args.json {
        print_json(&night)?;
        return Ok(Outcome::Success);
    }
    println!(
        "demo night {} under {}: {} file(s) written, {} already up to date",
        night.night,
        layout.data_root().display(),
        night.files_written,
        night.files_unchanged
    );
    let mut t = table(&["Run", "Type", "Subruns", "Source", "Start (UTC)"], context.color);
    for r in &night.runs {
        t.add_row(vec![
            Cell::new(format!("{:05}", r.run)),
            Cell::new(r.run_type),
            Cell::new(r.subruns),
            Cell::new(or_dash(r.source.as_deref())),
            Cell::new(r.start.format("%Y-%m-%d %H:%M:%S")),
        ]);
    }
    println!("{t}");
    println!("R0 files:    {}", layout.r0_night_dir(night.night).display());
    println!("RunSummary:  {}", night.run_summary.display());
    Ok(Outcome::Success)
}

/// The demo night end to end: a config for the demo data root (the simulator's symlinks as
/// `analysis.bin_dir`), the night made if missing, the daemon started, the night's summary
/// dropped into its watched folder; the daemon exits once the night is closed, then
/// `osa status` is printed.
fn run_night(context: &Context, args: RunArgs) -> anyhow::Result<Outcome> {
    let night_args = args.night;
    let mut config = context.config()?;
    std::fs::create_dir_all(&night_args.dir).with_context(|| format!("creating data root {}", night_args.dir.display()))?;
    let root = std::path::absolute(&night_args.dir)?;
    config.paths.data_root = root.clone();
    if std::env::var_os(ENV_EXECUTOR).is_none() {
        config.executor.kind = ExecutorKind::Local;
    }
    if std::env::var_os(ENV_DATABASE_URL).is_none() {
        config.database.url = String::new();
    }
    let demo_dir = config.resolve(&config.paths.osa_dir).join("demo");
    let simulator = std::env::current_exe()?.with_file_name("lstchain-sim");
    anyhow::ensure!(simulator.is_file(), "the analysis simulator {} is missing: build it with `cargo build --bins`", simulator.display());
    install_simulator(&demo_dir.join("bin"), &simulator)?;
    config.analysis.bin_dir = Some(demo_dir.join("bin"));
    for (file, field) in [
        ("lstchain_standard_config.json", &mut config.analysis.dl1a_config),
        ("dl1ab_tailcut84.json", &mut config.analysis.dl1b_config),
        ("lstchain_dl2_config.json", &mut config.analysis.dl2_config),
    ] {
        let path = demo_dir.join("cfg").join(file);
        std::fs::create_dir_all(path.parent().expect("has a folder"))?;
        std::fs::write(&path, "{}\n").with_context(|| format!("writing {}", path.display()))?;
        *field = path;
    }
    // The closing mail goes to a file in the demo folder instead of a relay.
    config.mail.enabled = true;
    config.mail.file_dir = Some(demo_dir.join("mail"));
    if config.mail.to.is_empty() {
        config.mail.to = vec!["shifters@lst1.invalid".to_string()];
    }
    config.validate("demo config")?;
    let config_file = demo_dir.join("osa-demo.toml");
    std::fs::write(&config_file, config.to_toml()).with_context(|| format!("writing {}", config_file.display()))?;

    let layout = Layout::new(&config);
    let made = make_night(&layout, night_args.date, &options(&night_args)).with_context(|| format!("making demo night {}", night_args.date))?;
    println!("demo night {} under {} ({} runs; config {})", made.night, root.display(), made.runs.len(), config_file.display());

    // The daemon does the rest: the summary is dropped into its watched folder once it runs,
    // and it exits when the night is closed. Its schedules are quick for a demo.
    let staging = demo_dir.join("staging");
    std::fs::create_dir_all(&staging)?;
    let [v2, v1] = layout.night_summary_files(night_args.date);
    let mut summaries = Vec::new();
    for file in [layout.run_summary_file(night_args.date), v2, v1] {
        let aside = staging.join(file.file_name().expect("summaries have names"));
        std::fs::rename(&file, &aside).with_context(|| format!("staging {}", file.display()))?;
        summaries.push((aside, file));
    }
    config.schedules.poll = "*/2 * * * * *".to_string();
    config.schedules.closer = "*/3 * * * * *".to_string();
    config.schedules.poll_jitter_seconds = 0;
    config.watch.debounce_ms = 300;
    std::fs::write(&config_file, config.to_toml()).with_context(|| format!("writing {}", config_file.display()))?;
    if Db::open_and_migrate(&config.database_url(), &config.analysis.prod_id)?.night(night_args.date)?.is_some_and(|n| n.closed) {
        println!("night {} is already closed (`osa rerun --date {}` to run it again)", night_args.date, night_args.date);
    } else {
        let morning = night_args.date.next().date().and_hms_opt(config.closer.not_before_hour, 30, 0).expect("valid hour").and_utc();
        let options = DaemonOptions {
            config_source: ConfigSource::Flag(config_file.clone()),
            now: Some(morning.max(Utc::now())),
            exit_when_closed: Some(night_args.date),
        };
        let daemon = std::thread::spawn(move || crate::daemon::run(options));
        // Its watches are set before its start-up cycle: drop the summary once that ran.
        let started = Instant::now();
        // (The pid tells this daemon's health file from one an earlier demo left behind.)
        let cycled = || crate::daemon::read_state(&layout).is_some_and(|s| s.pid == std::process::id() && s.last_cycle_at.is_some());
        while !daemon.is_finished() && !cycled() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "the demo daemon did not start within a minute");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The RunSummary only: it wins over the legacy files anyway.
        let (aside, watched) = &summaries[0];
        std::fs::rename(aside, watched).with_context(|| format!("dropping {}", watched.display()))?;
        println!("daemon started; dropped {} into its watched folder", watched.display());
        let started = Instant::now();
        while !daemon.is_finished() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(args.timeout_minutes * 60),
                "demo night not closed after {} minutes",
                args.timeout_minutes
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        daemon.join().map_err(|_| anyhow::anyhow!("the daemon thread panicked"))??;
    }
    for (aside, watched) in summaries.iter().filter(|(aside, _)| aside.exists()) {
        std::fs::rename(aside, watched).with_context(|| format!("putting {} back", watched.display()))?;
    }
    let table_context = Context { config_source: ConfigSource::Flag(config_file), color: context.color };
    super::status_cmd::run(
        &table_context,
        super::status_cmd::StatusArgs { date: Some(night_args.date), json: false, state: None, html: None, watch: None },
    )?;
    let records = layout.provenance_records_dir(night_args.date);
    println!("provenance (PROV-JSON and SVG graphs): {}", records.display());
    if let Some(mail) = std::fs::read_dir(demo_dir.join("mail")).into_iter().flatten().flatten().map(|e| e.path()).max() {
        println!("closing mail: {}", mail.display());
    }
    let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
    if db.night(night_args.date)?.is_some_and(|n| n.closed) {
        Ok(Outcome::Success)
    } else {
        eprintln!("osa: the demo night did not close (see above)");
        Ok(Outcome::Failure)
    }
}
