//! The mails (lettre): the closing mail, one per closed night with the summary table, what the
//! closer retried and why, and what needs a human; the warning mail, when what needs a human in an open night changes (LSTOSA's
//! "WARNING: YYYY-MM-DD is not closed yet"). Sent through the configured SMTP relay, or written
//! as an `.eml` file when `mail.file_dir` is set.

use std::fmt::Write as _;

use lettre::message::Mailbox;
use lettre::{Message, SmtpTransport, Transport};

use super::Report;
use crate::config::Config;
use crate::night::NightDate;
use crate::sequencer::plan::NightPlan;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail setting {key}: {message}")]
    Address { key: &'static str, message: String },
    #[error("building the mail: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("sending through {host}:{port}: {message}")]
    Smtp { host: String, port: u16, message: String },
    #[error("writing the mail into {dir}: {message}")]
    File { dir: String, message: String },
}

pub fn subject(report: &Report) -> String {
    let human = if report.problems.is_empty() { String::new() } else { format!(", {} need(s) a human", report.problems.len()) };
    format!("[osa] LST1 night {} closed: {} products verified{human}", report.night, report.verified)
}

/// `retries`: what the closer sent again during the night, and why, one line each.
pub fn body(report: &Report, plan: &NightPlan, retries: &[String]) -> String {
    let mut text = format!("Night {} is closed.\n\n", report.night);
    let _ = writeln!(text, "{:<5} {:<9} {:>6} {:>8} {:>6}  {}", "Seq", "Type", "Run", "Subruns", "Tries", "Action");
    for s in &plan.sequences {
        let _ = writeln!(
            text,
            "{:<5} {:<9} {:>6} {:>8} {:>6}  {}",
            s.seq,
            s.run_type.as_str(),
            format!("{:05}", s.run),
            s.subruns,
            s.tries,
            s.action.label()
        );
    }
    let _ = writeln!(text, "\nProducts verified: {} ({} bad, sent back before closing).", report.verified, report.bad);
    if retries.is_empty() {
        text.push_str("Nothing was retried.\n");
    } else {
        let _ = writeln!(text, "\nRetried by osa ({}):", retries.len());
        for retry in retries {
            let _ = writeln!(text, "  - {retry}");
        }
    }
    if report.problems.is_empty() {
        text.push_str("Nothing needs a human.\n");
    } else {
        text.push_str("\nNeeds a human:\n");
        for problem in &report.problems {
            let _ = writeln!(text, "  - {problem}");
        }
    }
    if let Some(night_json) = &report.night_prov_json {
        let _ = writeln!(text, "\nProvenance: {}", night_json.display());
    }
    text
}

/// Sends (or files) the closing mail; `Ok(None)` when mail is disabled. Returns where it went.
pub fn send(config: &Config, report: &Report, plan: &NightPlan, retries: &[String]) -> Result<Option<String>, MailError> {
    deliver(config, subject(report), body(report, plan, retries))
}

/// The warning mail of a night that needs a human: what, where to read more (`failures`: the
/// failing step, its log and last lines, per run), and the commands to look and act.
pub fn send_warning(config: &Config, night: NightDate, problems: &[String], failures: &[String]) -> Result<Option<String>, MailError> {
    let subject = format!("[osa] WARNING: {night} is not closed yet: {} problem(s) need a human", problems.len());
    let mut text = format!("Night {night} is not closed yet: it needs a human.\n\n");
    for problem in problems {
        let _ = writeln!(text, "  - {problem}");
    }
    if !failures.is_empty() {
        text.push_str("\nWhere it failed:\n");
        for failure in failures {
            let _ = writeln!(text, "  {failure}");
        }
    }
    let _ = writeln!(text, "\nTo look:\n  osa status --date {night}\n  osa veto list --date {night}\n  osa audit --date {night}");
    let _ = writeln!(text, "To act, once the cause is fixed:\n  osa veto lift --date {night} --run RUN [--stage STAGE] --reason '...'");
    let _ = writeln!(text, "  osa rerun --date {night} [--run RUN]\nThis mail comes again only if what needs a human changes.");
    deliver(config, subject, text)
}

fn deliver(config: &Config, subject: String, body: String) -> Result<Option<String>, MailError> {
    let mail = &config.mail;
    if !mail.enabled {
        return Ok(None);
    }
    let parse = |key: &'static str, text: &str| text.parse::<Mailbox>().map_err(|e| MailError::Address { key, message: format!("{text:?}: {e}") });
    let mut builder = Message::builder().from(parse("mail.from", &mail.from)?).subject(subject);
    for to in &mail.to {
        builder = builder.to(parse("mail.to", to)?);
    }
    let message = builder.body(body)?;
    if let Some(dir) = &mail.file_dir {
        std::fs::create_dir_all(dir).map_err(|e| MailError::File { dir: dir.display().to_string(), message: e.to_string() })?;
        let id =
            lettre::FileTransport::new(dir).send(&message).map_err(|e| MailError::File { dir: dir.display().to_string(), message: e.to_string() })?;
        return Ok(Some(dir.join(format!("{id}.eml")).display().to_string()));
    }
    let transport = SmtpTransport::builder_dangerous(&mail.smtp_host).port(mail.smtp_port).build();
    transport.send(&message).map_err(|e| MailError::Smtp { host: mail.smtp_host.clone(), port: mail.smtp_port, message: e.to_string() })?;
    Ok(Some(format!("smtp://{}:{}", mail.smtp_host, mail.smtp_port)))
}
