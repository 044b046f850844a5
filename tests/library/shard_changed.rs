//! A shard that changes after its footer was read is refused with `ShardChanged` naming it,
//! whether it shrank or grew: each block reopens the shard through its storage and checks the
//! length seen when the set was opened.

use shardmix::{ErrorKind, ShardSet};

fn copy_of_digits(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("digits.parquet");
    std::fs::copy("examples/data/digits.parquet", &path).unwrap();
    path
}

#[test]
fn a_shard_that_shrank_or_grew_after_open_is_shard_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_of_digits(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    for new_len in [len - 100, len + 100] {
        std::fs::copy("examples/data/digits.parquet", &path).unwrap();
        let set = ShardSet::open(&path).unwrap();
        assert_eq!(set.read_rows(0..10).unwrap().features.nrows(), 10);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(new_len).unwrap();
        let e = set.read_rows(0..10).unwrap_err();
        match e.kind() {
            ErrorKind::ShardChanged { path: p, message } => {
                assert_eq!(p, &path);
                assert!(message.contains(&len.to_string()), "{message}");
            }
            other => panic!("{new_len} bytes: {other:?}"),
        }
    }
}
