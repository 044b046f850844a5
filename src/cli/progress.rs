//! Progress bars on stderr: shown on a terminal, hidden in logs and with `--quiet`.

use std::io::IsTerminal;

use indicatif::{HumanFloatCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar over `total` items (rows or steps) named `what`; hidden unless stderr is a terminal.
pub fn bar(total: Option<u64>, what: &str, quiet: bool) -> ProgressBar {
    let pb = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    if quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    // `{rate}`, not indicatif's `{per_sec}`, which prints four decimals (`2,061.7837/s`).
    let template = format!("{{spinner}} {what:>9} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {{rate}} ETA {{eta}} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style.with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", rate(state.per_sec()));
        }));
    }
    pb
}

/// A rate for the bar: whole units with thousands separators (`2,062`), one decimal below 10
/// (`3.4`) so that a slow rate does not read as 0.
fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        return "-".into();
    }
    if per_sec < 10.0 {
        format!("{per_sec:.1}")
    } else {
        format!("{:.0}", HumanFloatCount(per_sec))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_are_rounded() {
        assert_eq!(super::rate(2061.7837), "2,062");
        assert_eq!(super::rate(3.44), "3.4");
        assert_eq!(super::rate(f64::INFINITY), "-");
    }
}
