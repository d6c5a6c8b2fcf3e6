//! The pages' HTML. maud escapes every value written into a page, so a source name, a log
//! line or a file name shows as text whatever it holds; no page runs a script or loads
//! anything from elsewhere (a site network has no internet).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::data::{NightPage, RunPage};
use crate::operator::overview::{NightStatus, RunStatus, StatusJson, age};
use crate::provenance::trace::TraceStep;

/// Where a page's links go: the daemon's routes, or the files `osa status --html` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    Live,
    Files,
}

impl Links {
    pub fn nights(self) -> String {
        match self {
            Links::Live => "/".to_string(),
            Links::Files => "index.html".to_string(),
        }
    }

    pub fn night(self, date: &str) -> String {
        match self {
            Links::Live => format!("/night/{date}"),
            Links::Files => format!("night_{date}.html"),
        }
    }

    pub fn run(self, date: &str, run: u32) -> String {
        match self {
            Links::Live => format!("/night/{date}/run/{run}"),
            Links::Files => format!("night_{date}_run_{run:05}.html"),
        }
    }

    /// A graph or PDF osa made (the export copies it beside the pages).
    pub fn file(self, path: &str) -> String {
        match self {
            Links::Live => format!("/file?path={}", encode(path)),
            Links::Files => format!("files/{}", encode(&file_name(path))),
        }
    }
}

/// A shown file's name in the export's `files/` folder.
pub fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Percent-encoding of a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

const STYLE: &str = r#"
body { font-family: sans-serif; margin: 0 1em 2em; color: #222; }
header { border-bottom: 1px solid #ccc; padding: .5em 0; margin-bottom: 1em; }
header a { margin-right: 1em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.state { padding: 0 .4em; border-radius: 3px; }
.closed, .done, .completed, .finished { background: #c8f0c8; }
.running, .closing, .submitted, .reconcile { background: #d8e4ff; }
.waiting, .submit, .pending, .queued { background: #f4f4f4; }
.needs_human, .failed, .vetoed, .blocked, .down, .stale, .failing { background: #ffd0d0; }
pre { background: #f8f8f8; border: 1px solid #ddd; padding: .5em; overflow-x: auto; white-space: pre-wrap; }
code { background: #f4f4f4; }
progress { width: 8em; }
.graph img { max-width: 100%; border: 1px solid #ddd; }
.trace ul { list-style: none; border-left: 2px solid #ccc; padding-left: 1em; }
.changed { color: #b00; font-weight: bold; }
@media (max-width: 600px) { table { font-size: 0.75em; } }
"#;

/// A whole page; `refresh`: seconds between reloads while something is still moving.
fn page(title: &str, refresh: Option<u32>, links: Links, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href=(links.nights()) { "osa: nights" }
                    @if links == Links::Live {
                        a href="/trace" { "trace a product" }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn state_badge(word: &str) -> Markup {
    let class = word.split([':', ' ']).next().unwrap_or(word);
    html! { span class={ "state " (class) } { (word) } }
}

fn daemon_line(status: &StatusJson) -> Markup {
    let d = &status.daemon;
    html! {
        p {
            "daemon: " (state_badge(d.state))
            @if let Some(age_seconds) = d.last_cycle_age_seconds { " last cycle " (age(age_seconds)) " ago" } @else { " no cycle yet" }
            @if let Some(error) = &d.last_error { " | last error: " (error) }
            " | executor " (status.executor.kind) @if !status.executor.answered { " (did not answer: job states as last stored)" }
            " | production " (status.production)
        }
    }
}

fn totals(n: &NightStatus) -> Markup {
    let t = &n.totals;
    html! {
        (t.runs) " runs: " (t.done) " done, " (t.running) " running, " (t.waiting) " waiting, "
        (t.failed) " failed, " (t.vetoed) " vetoed, " (t.blocked) " blocked"
        @if let Some(dl1) = t.dl1_percent { " | DL1 " (dl1) "%" }
        @if let Some(dl2) = t.dl2_percent { " | DL2 " (dl2) "%" }
    }
}

fn is_open(n: &NightStatus) -> bool {
    n.state != "closed"
}

/// The nights: the current one and every one not closed.
pub fn nights(status: &StatusJson, links: Links, refresh: u32) -> Markup {
    let open = status.nights.iter().any(is_open);
    page(
        "osa: nights",
        open.then_some(refresh),
        links,
        html! {
            h1 { "Nights" }
            (daemon_line(status))
            table {
                thead { tr { th { "Night" } th { "State" } th { "Runs" } th { "Needs a human" } } }
                tbody {
                    @for n in &status.nights {
                        tr {
                            td { a href=(links.night(&n.date)) { (n.date) } }
                            td { (state_badge(n.state)) }
                            td { (totals(n)) }
                            td { (n.problems.len()) }
                        }
                    }
                }
            }
        },
    )
}

fn job_cell(r: &RunStatus) -> Markup {
    html! {
        @match (r.job_state, r.elapsed_seconds) {
            (Some(phase), Some(s)) => { (state_badge(phase)) " " (age(s)) },
            (Some(phase), None) => { (state_badge(phase)) },
            (None, _) => { "-" },
        }
    }
}

/// A night: the sequencer table, what needs a human and how to act.
pub fn night(data: &NightPage, links: Links, refresh: u32) -> Markup {
    let Some(n) = data.status.nights.first() else { return page("osa: night", None, links, html! { p { "no such night" } }) };
    let extra = |run: u32| data.runs.iter().find(|e| e.run == run);
    page(
        &format!("osa: night {}", n.date),
        is_open(n).then_some(refresh),
        links,
        html! {
            h1 { "Night " (n.date) " " (state_badge(n.state)) }
            (daemon_line(&data.status))
            p { (totals(n)) }
            @if let Some(longterm) = &n.longterm { p { "long-term data check: " (longterm) } }
            @if !n.problems.is_empty() {
                h2 { "Needs a human" }
                ul { @for problem in &n.problems { li { (problem) } } }
            }
            table id="runs" {
                thead { tr {
                    th { "Run" } th { "Type" } th { "Source" } th { "State" } th { "Job" } th { "Subruns done" }
                    th { "DL1%" } th { "DL2%" } th { "Data check" } th { "Tries" } th { "Job id" }
                } }
                tbody {
                    @for r in &n.runs {
                        tr id={ "run-" (r.run) } {
                            td { a href=(links.run(&n.date, r.run)) { (format!("{:05}", r.run)) } }
                            td { (r.run_type) }
                            td { (extra(r.run).and_then(|e| e.source.as_deref()).unwrap_or("-")) }
                            td { (state_badge(&r.state)) }
                            td { (job_cell(r)) }
                            td class="progress" {
                                progress value=(r.subruns_done) max=(r.subruns.max(1)) { (r.subruns_done) "/" (r.subruns) }
                                " " span class="count" { (r.subruns_done) "/" (r.subruns) }
                                @if r.dropped.is_some() { " (last dropped)" }
                            }
                            td { (r.dl1_percent.map(|p| p.to_string()).unwrap_or("-".into())) }
                            td { (r.dl2_percent.map(|p| p.to_string()).unwrap_or("-".into())) }
                            td { (r.datacheck.as_deref().unwrap_or("-")) }
                            td { (r.tries) }
                            td { (r.job_id.as_deref().unwrap_or("-")) }
                        }
                    }
                }
            }
            @for r in n.runs.iter().filter(|r| r.failure.is_some() || extra(r.run).is_some_and(|e| !e.commands.is_empty())) {
                section class="failure" id={ "failure-" (r.run) } {
                    h2 { "Run " (format!("{:05}", r.run)) ": " (r.state) }
                    @if let Some(e) = extra(r.run) {
                        @for veto in &e.vetoes { p class="veto" { (veto) } }
                    }
                    @if let Some(f) = &r.failure {
                        p { "subrun " (f.subrun) ", step " (f.step.as_deref().unwrap_or("?")) " failed; log " code { (f.log) } }
                        pre class="tail" { @for line in &f.tail { (line) "\n" } }
                    }
                    @if let Some(e) = extra(r.run) {
                        @for command in &e.commands { pre class="command" { (command) } }
                    }
                }
            }
            @for r in n.runs.iter().filter(|r| r.dropped.is_some()) {
                p { "run " (format!("{:05}", r.run)) ": " (r.dropped.as_deref().unwrap_or_default()) }
            }
            h2 { "Files" }
            ul {
                @if let Some(graph) = &data.graph { li { a href=(links.file(graph)) { "the night's provenance graph" } } }
                @for file in &data.longterm { li { "long-term data check: " code { (file) } } }
                @if data.graph.is_none() && data.longterm.is_empty() { li { "none yet (the closer writes them)" } }
            }
        },
    )
}

/// A run: subruns, jobs, products, provenance graph, data-check PDFs.
pub fn run(data: &RunPage, links: Links, refresh: u32) -> Markup {
    page(
        &format!("osa: run {:05} of {}", data.run, data.date),
        data.night_open.then_some(refresh),
        links,
        html! {
            h1 { "Run " (format!("{:05}", data.run)) " of " a href=(links.night(&data.date)) { (data.date) } }
            p {
                (data.run_type.as_deref().unwrap_or("?")) ", source " (data.source.as_deref().unwrap_or("-")) ": "
                (state_badge(data.state.as_deref().unwrap_or("unknown")))
            }
            h2 { "Subruns" }
            table id="subruns" {
                thead { tr { th { "Subrun" } th { "State" } th { "Tries" } th { "Exit" } th { "Node" } th { "CPU s" } th { "Max RSS (MB)" } th { "Started" } th { "Ended" } } }
                tbody {
                    @for s in &data.subruns {
                        tr {
                            td { (s.subrun) } td { (state_badge(&s.state)) } td { (s.tries) }
                            td { (s.exit.map(|e| e.to_string()).unwrap_or("-".into())) }
                            td { (s.node.as_deref().unwrap_or("-")) }
                            td { (s.cpu_seconds.map(|c| c.to_string()).unwrap_or("-".into())) }
                            td { (s.max_rss_kb.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("-".into())) }
                            td { (s.started_at.as_deref().unwrap_or("-")) }
                            td { (s.ended_at.as_deref().unwrap_or("-")) }
                        }
                    }
                }
            }
            h2 { "Jobs" }
            table id="jobs" {
                thead { tr { th { "Stage" } th { "Attempt" } th { "Job id" } th { "Submitted" } th { "Refused" } } }
                tbody {
                    @for j in &data.jobs {
                        tr {
                            td { (j.stage) } td { (j.attempt) } td { (j.job_id.as_deref().unwrap_or("-")) }
                            td { (j.submitted_at.as_deref().unwrap_or("-")) } td { (j.submit_error.as_deref().unwrap_or("-")) }
                        }
                    }
                }
            }
            h2 { "Products" }
            table id="products" {
                thead { tr { th { "File" } th { "Kind" } th { "Size (bytes)" } th { "Events" } th { "sha256" } th { "Verdict" } } }
                tbody {
                    @for p in &data.products {
                        tr {
                            td { code { (p.path) } } td { (p.kind) } td { (p.size_bytes) }
                            td { (p.events.map(|e| e.to_string()).unwrap_or("-".into())) }
                            td { code { (p.sha256.get(..16).unwrap_or(&p.sha256)) } }
                            td { (state_badge(if p.verdict == "ok" { "done" } else { &p.verdict })) @if let Some(d) = &p.detail { " " (d) } }
                        }
                    }
                }
            }
            @if !data.datacheck_pdfs.is_empty() {
                h2 { "Data checks" }
                ul { @for pdf in &data.datacheck_pdfs { li { a href=(links.file(pdf)) { (file_name(pdf)) } } } }
            }
            h2 { "Provenance" }
            @match &data.graph {
                Some(graph) => div class="graph" { img src=(links.file(graph)) alt={ "provenance graph of run " (data.run) }; },
                None => p { "not merged yet (the closer merges it once the night's stages are done)" },
            }
        },
    )
}

/// The trace form, with its answer or why it was refused.
pub fn trace(file: Option<&str>, answer: Result<Option<&TraceStep>, String>) -> Markup {
    page(
        "osa: trace",
        None,
        Links::Live,
        html! {
            h1 { "Trace a product back to R0" }
            form method="get" action="/trace" {
                label for="file" { "product path " }
                input type="text" id="file" name="file" size="100" value=(file.unwrap_or(""));
                " "
                button type="submit" { "trace" }
            }
            @match answer {
                Err(why) => p class="refused" { (why) },
                Ok(None) => @if let Some(f) = file { p class="refused" { "no provenance recorded for " code { (f) } } },
                Ok(Some(step)) => div class="trace" { ul { (trace_step(step)) } },
            }
        },
    )
}

fn trace_step(step: &TraceStep) -> Markup {
    html! {
        li {
            code { (step.file) }
            @if let Some(hash) = &step.sha256 { " sha256:" code { (hash) } }
            @if let Some(current) = step.current.filter(|c| *c != "unchanged") { " " span class="changed" { (current) " since recorded" } }
            @if let Some(activity) = &step.activity {
                br;
                "made by " b { (activity) } " (run " (step.run.map(|r| format!("{r:05}")).unwrap_or_default())
                ", subrun " (step.subrun.map(|s| s.to_string()).unwrap_or("-".into())) ", " (step.status.as_deref().unwrap_or("?"))
                ", host " (step.host.as_deref().unwrap_or("?")) ", SLURM job " (step.slurm_job.as_deref().unwrap_or("?"))
                ", " (step.software.as_deref().unwrap_or("?")) ") at " (step.started_at.as_deref().unwrap_or("?"))
            } @else if step.repeated {
                " (see above)"
            } @else {
                " (input: no recorded maker)"
            }
            @if !step.inputs.is_empty() {
                ul { @for input in &step.inputs { (trace_step(input)) } }
            }
        }
    }
}

/// A page for what went wrong (unknown night, refused path, database away).
pub fn problem(title: &str, message: &str) -> Markup {
    page(title, None, Links::Live, html! { h1 { (title) } p class="refused" { (message) } })
}
