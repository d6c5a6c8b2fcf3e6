//! Output helpers shared by the commands: tables (comfy-table, light preset) that are plain
//! text off a terminal or with `--color never`, and pretty JSON for scripts.

use std::io::IsTerminal;

use comfy_table::{Cell, Color, ContentArrangement, LineStyle, Table, TableStyle};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// A table with a header row; `color` decides whether cells may carry colour.
pub fn table(header: &[&str], color: ColorChoice) -> Table {
    let mut table = Table::new();
    table.set_content_arrangement(ContentArrangement::Disabled);
    if color.enabled() {
        table.load_style(light_style('─')).enforce_styling();
    } else {
        // Plain ASCII off a terminal: mails, logs and scripts read it too.
        table.load_style(light_style('-')).force_no_tty();
    }
    table.set_header(header.iter().map(|h| Cell::new(h)));
    table
}

/// No borders, one line under the header: readable in 5 seconds, greppable.
fn light_style(rule: char) -> TableStyle {
    TableStyle::new().header_separator(LineStyle::none().fill(rule).junction(' '))
}

/// A cell that is red when colour is on: for values that need a human.
pub fn alarm(text: impl ToString, color: ColorChoice) -> Cell {
    let cell = Cell::new(text.to_string());
    if color.enabled() { cell.fg(Color::Red) } else { cell }
}

pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `-` for an absent value.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".to_string())
}

/// Text in bold colour on a terminal (`green` for good news, red otherwise), plain elsewhere.
pub fn paint(text: &str, green: bool, color: ColorChoice) -> String {
    if color.enabled() { format!("\x1b[1;{}m{text}\x1b[0m", if green { 32 } else { 31 }) } else { text.to_string() }
}
