//! The source is built in layers, one folder each under `src/source/`, and a layer uses only
//! the layers below it:
//!
//! bytes → footer → pages → decode → shards → reader
//!
//! (`bytes`: where a shard's bytes come from; `footer`: the checked footer; `pages`: column
//! chunks and their pages; `decode`: one block → `f32` rows; `shards`: the shard set; `reader`:
//! rows → batches). This test reads the code of every file of each layer (test modules left
//! out) and fails on a path into a layer above: `crate::source::<layer>`, `super::…` up to the
//! source folder, or a root re-export (`crate::ShardSet`) of an item defined above.

use std::path::{Path, PathBuf};

/// The layers, bottom first.
const LAYERS: [&str; 6] = ["bytes", "footer", "pages", "decode", "shards", "reader"];

/// Root re-exports (`crate::Name`) of items defined in a layer, with that layer.
const ROOT_ITEMS: [(&str, &str); 16] = [
    ("ShardInfo", "footer"),
    ("RowGroupRef", "decode"),
    ("NullPolicy", "decode"),
    ("Features", "decode"),
    ("Target", "decode"),
    ("ImageColumn", "decode"),
    ("MAX_IMAGE_VALUES", "decode"),
    ("ShardSet", "shards"),
    ("DEFAULT_BLOCK_ROWS", "shards"),
    ("DEFAULT_MAX_COLUMN_CHUNK_BYTES", "shards"),
    ("Reader", "reader"),
    ("Rows", "reader"),
    ("BadShard", "reader"),
    ("SkippedBlock", "reader"),
    ("CacheStats", "reader"),
    ("AUTO_CACHE_MIN_BYTES", "reader"),
];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

/// The code of a file without its comments and without its `#[cfg(test)]` modules (tests may
/// build fixtures with anything).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t == "#[cfg(test)]" && lines.peek().is_some_and(|n| n.trim_start().starts_with("mod ")) {
            // A test module: skip to its closing brace at the same indentation.
            let indent = line.len() - t.len();
            let close = format!("{}}}", " ".repeat(indent));
            for l in lines.by_ref() {
                if l == close {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The identifier starting `s` (letters, digits, `_`).
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Every layer that `code`, a file of layer `own` (`depth` folders below `src/source/`: 1 for
/// `<layer>/mod.rs`, 2 for `<layer>/<file>.rs`), refers to, with the text that does.
fn layers_used(code: &str, depth: usize) -> Vec<(String, String)> {
    let mut used = Vec::new();
    let up = "super::".repeat(depth);
    for prefix in ["crate::source::", up.as_str()] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            // `super::super::x` also contains `super::x`: take whole `super::` chains only.
            let whole = prefix != up || !code[..code.len() - rest.len() + i].ends_with("super::");
            let name = ident(&rest[i + prefix.len()..]);
            if whole && rank(name).is_some() {
                used.push((name.to_string(), format!("{prefix}{name}")));
            }
            rest = &rest[i + prefix.len()..];
        }
    }
    // Root re-exports: `crate::Name` and `crate::{A, B}`.
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end].split(',').map(|n| ident(n.trim())).collect()
        } else {
            vec![ident(after)]
        };
        for name in names {
            if let Some((_, layer)) = ROOT_ITEMS.iter().find(|(n, _)| *n == name) {
                used.push((layer.to_string(), format!("crate::{name}")));
            }
        }
        rest = after;
    }
    used
}

/// The uses in `code` (of layer `own`, at `depth`) of a layer above `own`.
fn violations(own: &str, code: &str, depth: usize) -> Vec<String> {
    let me = rank(own).expect("a known layer");
    layers_used(code, depth)
        .into_iter()
        .filter(|(layer, _)| rank(layer).is_some_and(|r| r > me))
        .map(|(layer, text)| format!("`{text}` (layer {layer})"))
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("source");
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in rust_files(&source) {
        let rel = file.strip_prefix(&source).unwrap();
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts == ["mod.rs"] {
            continue; // the source's own mod.rs re-exports from every layer
        }
        if parts.last().is_some_and(|p| p.ends_with("tests.rs")) {
            continue; // a test module of its own (`#[cfg(test)] mod …_tests;`): fixtures may open a ShardSet
        }
        let Some(layer) = parts.first().filter(|l| rank(l).is_some() && parts.len() >= 2) else {
            problems.push(format!("{}: not in a layer's folder ({})", rel.display(), LAYERS.join(", ")));
            continue;
        };
        // `super::` steps from this file up to `src/source` (a layer may have sub-folders).
        let depth = parts.len() - usize::from(parts.last().is_some_and(|p| p == "mod.rs"));
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for v in violations(layer, &code, depth) {
            problems.push(format!("{}: uses {v}, above {layer}", rel.display()));
        }
        checked += 1;
    }
    assert!(checked >= LAYERS.len(), "only {checked} files found under {}", source.display());
    assert!(problems.is_empty(), "the source's layers are crossed upwards:\n{}", problems.join("\n"));
}

#[test]
fn the_check_sees_an_upward_use() {
    // The checker itself: each way of reaching a layer above is caught, the test module and
    // comments are not, and a use of a layer below passes.
    let code = code_of(
        "use crate::source::bytes::ByteSource;\n\
         use crate::source::shards::ShardSet;\n\
         // a comment naming crate::source::reader\n\
         fn f() { let _ = super::super::reader::x; let _ = crate::Reader::new; }\n\
         use crate::{Batch, ShardSet};\n\
         #[cfg(test)]\n\
         mod tests {\n    use crate::source::reader::Reader;\n}\n\
         fn g() {}\n",
    );
    let found = violations("pages", &code, 2);
    assert_eq!(
        found,
        [
            "`crate::source::shards` (layer shards)",
            "`super::super::reader` (layer reader)",
            "`crate::Reader` (layer reader)",
            "`crate::ShardSet` (layer shards)",
        ],
        "{found:?}"
    );
    assert!(code.contains("fn g()"), "the code after the test module is kept");
    assert!(violations("reader", &code, 2).is_empty());
    assert!(violations("decode", "use super::shards::ShardSet;", 1).len() == 1);
}
