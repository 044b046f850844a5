//! Progress bars on stderr: shown on a terminal, hidden in logs and with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` items (rows or steps) named `what`; hidden unless stderr is a terminal.
pub fn bar(total: Option<u64>, what: &str, quiet: bool) -> ProgressBar {
    let pb = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    if quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = format!("{{spinner}} {what:>9} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {{per_sec}} ETA {{eta}} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    pb
}
