//! `ShardSet::builder()`: every setting first, the columns resolved once at open — the same set
//! as the chained setters of an opened `ShardSet` — and a declared feature shape that does not
//! fit the features is an error, never dropped silently.

use shardmix::{ErrorKind, Features, NullPolicy, ShardSet, Target};

const DIGITS: &str = "examples/data/digits.parquet";

#[test]
fn the_builder_gives_the_set_the_setters_give() {
    let chained = ShardSet::open(DIGITS)
        .unwrap()
        .null_policy(NullPolicy::SkipRow)
        .target(Target::class_auto("label"))
        .unwrap()
        .features(Features::prefix("p"))
        .unwrap()
        .block_rows(500)
        .unwrap()
        .feature_shape(&[8, 8, 1])
        .unwrap();
    let built = ShardSet::builder()
        .null_policy(NullPolicy::SkipRow)
        .target(Target::class_auto("label"))
        .features(Features::prefix("p"))
        .block_rows(500)
        .feature_shape(&[8, 8, 1])
        .open(DIGITS)
        .unwrap();
    assert_eq!(built.spec(), chained.spec());
    assert_eq!(built.spec().num_classes(), Some(10));
    assert_eq!(built.spec().feature_shape, Some(vec![8, 8, 1]));
    assert_eq!(built.policy(), NullPolicy::SkipRow);
    assert_eq!(built.row_groups(), chained.row_groups());
    assert!(built.row_groups().iter().all(|b| b.num_rows <= 500), "blocks of at most 500 rows");
    let (a, b) = (built.read_rows(490..510).unwrap(), chained.read_rows(490..510).unwrap());
    assert_eq!(a.features, b.features);
    assert_eq!(a.targets, b.targets);
}

#[test]
fn the_builder_checks_its_settings_at_open() {
    let e = ShardSet::builder().block_rows(0).open(DIGITS).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Config { .. }), "{e}");
    let e = ShardSet::builder().features(Features::prefix("p")).feature_shape(&[8, 8, 2]).open(DIGITS).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Shape { .. }), "{e}");
    let e = ShardSet::builder().features(Features::columns(&["nope"])).open(DIGITS).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::MissingColumn { .. }), "{e}");
}

#[test]
fn a_feature_shape_that_no_longer_fits_is_an_error_not_dropped() {
    // Declared for the 64 pixels, then the features change to two columns: the shape cannot
    // describe them. It used to be dropped without a word.
    let set =
        ShardSet::open(DIGITS).unwrap().features(Features::prefix("p")).unwrap().feature_shape(&[8, 8, 1]).unwrap();
    let e = set.clone().features(Features::columns(&["p0", "p1"])).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Shape { .. }), "{e}");
    assert!(e.to_string().contains("[8, 8, 1]"), "{e}");
    // Features that still fit keep it.
    let kept = set.features(Features::glob("p*")).unwrap();
    assert_eq!(kept.spec().feature_shape, Some(vec![8, 8, 1]));
}
