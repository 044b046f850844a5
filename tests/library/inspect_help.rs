//! `inspect --help` lists only the flags that change what `inspect` shows (issue 20): not the
//! Mixup, model or worker flags of `augment`/`stream`/`train`.

use std::process::Command;

#[test]
fn inspect_help_lists_only_its_own_flags() {
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix")).args(["inspect", "--help"]).output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for own in ["--json", "--data", "--features", "--label", "--num-classes", "--batch-size", "--order", "--config"] {
        assert!(help.contains(own), "{own} missing:\n{help}");
    }
    for other in
        ["--mixup", "--cutmix", "--label-smoothing", "--vae", "--gan", "--workers", "--prefetch", "--provenance"]
    {
        assert!(!help.contains(other), "{other} listed:\n{help}");
    }
    // A Mixup flag is now an error of the command line, not silently ignored.
    let o = Command::new(env!("CARGO_BIN_EXE_shardmix")).args(["inspect", "--mixup-alpha", "0.4"]).output().unwrap();
    assert!(!o.status.success());
}
