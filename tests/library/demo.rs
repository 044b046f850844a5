//! `shardmix demo`, the README's first command, end to end on the bundled digits (with short
//! training so that the test stays quick): every way of the table is trained from each seed,
//! reported as mean ± spread, with the paired gains and the recognition lines.

use std::process::Command;

fn demo(extra: &[&str]) -> (String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["demo", "--quiet", "--generator-epochs", "5", "--epochs", "3"])
        .args(extra)
        .output()
        .expect("run shardmix demo");
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "demo failed: {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status);
    (out, err)
}

/// The accuracy cells of the table: `(mean, sd, min, max)` in percent, one per way (the first
/// four numbers of a table line; the ways' names hold no digits).
fn cells(out: &str) -> Vec<(f64, f64, f64, f64)> {
    out.lines()
        .filter(|l| l.contains("% (") && l.contains(" ± "))
        .map(|l| {
            let nums: Vec<f64> = l
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter(|t| !t.is_empty())
                .map(|t| t.parse().unwrap_or_else(|_| panic!("{t} in {l}")))
                .collect();
            assert!(nums.len() >= 4, "{l}");
            (nums[0], nums[1], nums[2], nums[3])
        })
        .collect()
}

#[test]
fn the_demo_reports_every_way_over_several_seeds() {
    let (out, err) = demo(&["--repeats", "3", "--seed", "7"]);
    assert!(err.contains("1797 rows"), "{err}");
    assert!(out.contains("3 run(s) per way (seeds 7..=9)"), "{out}");
    let rows = cells(&out);
    assert_eq!(rows.len(), 3, "three ways expected:\n{out}");
    for (mean, sd, min, max) in rows {
        assert!((0.0..=100.0).contains(&min) && min <= mean && mean <= max && max <= 100.0, "{out}");
        assert!(sd >= 0.0 && sd <= max - min + 0.1, "{out}");
    }
    assert_eq!(out.matches("paired over the seeds").count(), 2, "{out}");
    assert_eq!(out.matches("recognised as their requested class").count(), 2, "{out}");
}

#[test]
fn the_demo_is_reproducible_from_its_seed() {
    let paired =
        |out: &str| out.lines().filter(|l| l.contains("paired over the seeds")).map(String::from).collect::<Vec<_>>();
    let (a, _) = demo(&["--repeats", "2", "--workers", "2"]);
    let (b, _) = demo(&["--repeats", "2", "--workers", "1"]);
    assert_eq!(cells(&a), cells(&b), "same seed, other worker count, other accuracies:\n{a}\n{b}");
    assert_eq!(paired(&a), paired(&b), "{a}\n{b}");
}
