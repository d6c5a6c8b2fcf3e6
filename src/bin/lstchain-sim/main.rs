//! `lstchain-sim`: a stand-in for the lstchain programs osa runs, for the demo and the tests
//! (lstchain cannot run here: no real R0 data). Called through a symlink named like the real
//! program (or as `lstchain-sim <program> ARGS...`), it takes the same arguments and writes
//! real outputs: DL1 HDF5 in lstchain's own layout (instrument description, images,
//! parameters and monitoring; the real lstchain programs after DL1a read them, see
//! `tests/real_lstchain.rs`) with one row per R0 event, muons FITS, datacheck HDF5, DRS4
//! baseline and charge calibration HDF5, and the closing programs' merged DL1 and muons,
//! run-wise data check (HDF5 + PDF), DL2 and the night's long-term check, and the per-run
//! tail-cut finder and Cat-B calibration. osa does not know
//! it is talking to a simulator.
//!
//! `lstchain-sim mc-training --particle gamma|proton --events N --output FILE` writes an MC
//! DL1 file for the real `lstchain_mc_trainpipe` (the tests' RF models; see `training.rs`).
//!
//! Environment:
//! - `LSTCHAIN_SIM_EVENT_MS`: milliseconds slept per event (realistic job durations), default 0.
//! - `LSTCHAIN_SIM_VERSION`: version folder of calibration products, default `v0.10.12`.
//! - `LSTCHAIN_SIM_STATE`: folder of per-call attempt counters (default under $TMPDIR).
//! - `LSTCHAIN_SIM_FAIL`: failure rules, `;`-separated, each `key=value,...` with keys
//!   `program`, `run`, `subrun` (which calls; absent = any), `kind` (`timeout`: hang until
//!   killed; `resource`, `exists`, `pedestal`: LSTOSA's known failure messages; `truncate`:
//!   write a truncated output and exit 0; `crash`: write a truncated output, then fail;
//!   `short`: write a well-formed DL1 file holding only half the events, exit 0;
//!   `error`: a plain failure, the default), `message`,
//!   `exit` (default 1) and `attempts` (fail only the first N calls; default: every call).
//! - `LSTCHAIN_SIM_NSB`: the simulated sky of runs, `RUN=QPED,...` (see `prestages.rs`).

mod closing;
mod datacheck;
mod layout;
mod muons;
mod outputs;
mod prestages;
mod showers;
mod training;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use osa::demo::SIMULATED_PROGRAMS as PROGRAMS;

/// `--key=value`, `--key value` and `-k value` arguments; flags get an empty value.
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    fn parse(raw: &[String]) -> Self {
        let mut values = HashMap::new();
        let mut i = 0;
        while i < raw.len() {
            let arg = raw[i].trim_start_matches('-').to_string();
            if let Some((k, v)) = arg.split_once('=') {
                values.insert(k.to_string(), v.to_string());
            } else if i + 1 < raw.len() && !raw[i + 1].starts_with('-') {
                values.insert(arg, raw[i + 1].clone());
                i += 1;
            } else {
                values.insert(arg, String::new());
            }
            i += 1;
        }
        Self { values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| format!("error: argument --{key} is required"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }
}

/// Which call this is, for failure rules.
pub struct Call {
    pub program: String,
    pub run: Option<u32>,
    pub subrun: Option<u32>,
}

struct Rule {
    fields: HashMap<String, String>,
}

impl Rule {
    fn matches(&self, call: &Call) -> bool {
        let field = |k: &str| self.fields.get(k).map(String::as_str);
        field("program").is_none_or(|p| p == call.program)
            && field("run").is_none_or(|r| r.parse().ok() == call.run)
            && field("subrun").is_none_or(|s| s.parse().ok() == call.subrun)
    }
}

fn rules() -> Vec<Rule> {
    std::env::var("LSTCHAIN_SIM_FAIL")
        .unwrap_or_default()
        .split(';')
        .filter(|r| !r.trim().is_empty())
        .map(|r| Rule {
            fields: r.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect(),
        })
        .collect()
}

/// Counts calls per (program, run, subrun) in the state folder, for "fail the first N".
fn call_number(call: &Call) -> u32 {
    let dir = std::env::var_os("LSTCHAIN_SIM_STATE").map(PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("lstchain-sim-state"));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!(
        "{}_{}_{}",
        call.program,
        call.run.map(|r| r.to_string()).unwrap_or_default(),
        call.subrun.map(|s| s.to_string()).unwrap_or_default()
    ));
    let n = std::fs::read_to_string(&file).ok().and_then(|t| t.trim().parse::<u32>().ok()).unwrap_or(0) + 1;
    let _ = std::fs::write(&file, n.to_string());
    n
}

/// What the failure rules say to do with this call.
pub enum Injected {
    None,
    /// Write the output, then cut it to half its size, and exit 0.
    Truncate,
    /// Write half an output, then fail.
    Crash {
        message: String,
        exit: i32,
    },
    /// Write only half the events.
    Short,
    Fail {
        message: String,
        exit: i32,
    },
    Hang,
}

fn injected(call: &Call) -> Injected {
    let rules = rules();
    let Some(rule) = rules.iter().find(|r| r.matches(call)) else { return Injected::None };
    let n = call_number(call);
    if let Some(limit) = rule.fields.get("attempts").and_then(|a| a.parse::<u32>().ok())
        && n > limit
    {
        return Injected::None;
    }
    let exit = rule.fields.get("exit").and_then(|e| e.parse().ok()).unwrap_or(1);
    let message = |default: &str| rule.fields.get("message").cloned().unwrap_or_else(|| default.to_string());
    match rule.fields.get("kind").map(String::as_str).unwrap_or("error") {
        "timeout" => Injected::Hang,
        "truncate" => Injected::Truncate,
        "short" => Injected::Short,
        "crash" => Injected::Crash { message: message("Killed while writing the output"), exit },
        "resource" => Injected::Fail { message: message("OSError: [Errno 11] Resource temporarily unavailable"), exit },
        "exists" => Injected::Fail { message: message("Output file exists already. Stop"), exit },
        "pedestal" => Injected::Fail {
            message: message(
                "tables.exceptions.NoSuchNodeError: group ``/`` does not have a child named ``/dl1/event/telescope/monitoring/pedestal``",
            ),
            exit,
        },
        _ => Injected::Fail { message: message("simulated failure"), exit },
    }
}

/// `LST-1.1.Run12003.0042.fits.fz` or `dl1_LST-1.Run12003.0042.h5` → (12003, 42).
pub fn run_subrun_of(path: &str) -> Option<(u32, u32)> {
    let name = Path::new(path).file_name()?.to_str()?;
    let rest = &name[name.find("Run")? + 3..];
    let mut parts = rest.split('.');
    let run = parts.next()?.parse().ok()?;
    let subrun = parts.next().and_then(|s| s.parse().ok())?;
    Some((run, subrun))
}

pub fn sleep_for_events(events: usize) {
    let ms: f64 = std::env::var("LSTCHAIN_SIM_EVENT_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    if ms > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(ms * events as f64 / 1000.0));
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let invoked = Path::new(&argv[0]).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if argv.get(1).is_some_and(|a| a == "mc-training") {
        match training::mc_training(&Args::parse(&argv[2..])) {
            Ok(written) => written.iter().for_each(|p| println!("mc-training: wrote {}", p.display())),
            Err(message) => {
                eprintln!("mc-training: {message}");
                std::process::exit(1);
            }
        }
        return;
    }
    let (program, raw) = if PROGRAMS.contains(&invoked.as_str()) {
        (invoked, &argv[1..])
    } else if argv.len() > 1 && PROGRAMS.contains(&argv[1].as_str()) {
        (argv[1].clone(), &argv[2..])
    } else {
        eprintln!("lstchain-sim: call me as one of {} (through a symlink or as the first argument)", PROGRAMS.join(", "));
        std::process::exit(2);
    };
    let args = Args::parse(raw);
    let call = outputs::call_of(&program, &args);
    let injection = injected(&call);
    match &injection {
        Injected::Fail { message, exit } => {
            eprintln!("{message}");
            std::process::exit(*exit);
        }
        Injected::Hang => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => {}
    }
    let truncate = matches!(injection, Injected::Truncate | Injected::Crash { .. });
    match outputs::run(&program, &args, truncate, matches!(injection, Injected::Short)) {
        Ok(written) => {
            for path in written {
                println!("{program}: wrote {}", path.display());
            }
            if let Injected::Crash { message, exit } = injection {
                eprintln!("{message}");
                std::process::exit(exit);
            }
        }
        Err(message) => {
            eprintln!("{program}: {message}");
            std::process::exit(1);
        }
    }
}
