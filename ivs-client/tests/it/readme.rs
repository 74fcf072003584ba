//! The README's `Cargo.toml` snippet names every crate its Rust examples
//! use, with the Tokio features they need: a reader who copies both gets a
//! crate that builds. (The doctests cannot see this: they build with this
//! crate's dev-dependencies, Tokio with every feature.)

use std::collections::{BTreeMap, BTreeSet};

/// What `tokio::<item>` needs enabled. An item missing here fails the test
/// until it is added.
const TOKIO_FEATURES: &[(&str, &[&str])] = &[
    ("main", &["macros", "rt-multi-thread"]),
    ("select", &["macros"]),
    ("join", &["macros"]),
    ("pin", &[]),
    ("spawn", &["rt"]),
    ("task", &["rt"]),
    ("time", &["time"]),
    ("signal", &["signal"]),
    ("sync", &["sync"]),
];

/// Path roots that are not crates of the snippet.
const NOT_CRATES: &[&str] = &[
    "std", "core", "alloc", "crate", "self", "super", "bool", "char", "str", "u8", "u16", "u32",
    "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32", "f64",
];

/// Crates only the doctests' hidden lines use (the server the examples run
/// against): a reader copying an example does not need them.
const DOCTEST_ONLY: &[&str] = &["ivs_test_support"];

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced blocks whose info string starts with `lang`, as compiled by
/// rustdoc: hidden lines (`# ...`) included, without their marker.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Inside a block: whether it is one of `lang`, and its code so far.
    let mut current: Option<(bool, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => {
                current = Some((info.split(',').next() == Some(lang), String::new()))
            }
            (Some((keep, block)), Some(_)) => {
                if *keep {
                    out.push(std::mem::take(block));
                }
                current = None;
            }
            (Some((_, block)), None) => {
                let code = match line.trim_start() {
                    "#" => "",
                    l => l.strip_prefix("# ").unwrap_or(line),
                };
                block.push_str(code);
                block.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// `[dependencies]` of the snippet: crate name (as Rust spells it) → features.
fn snippet_dependencies(toml: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut deps = BTreeMap::new();
    let mut in_dependencies = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        let Some((name, spec)) = line.split_once('=') else {
            continue;
        };
        if !in_dependencies {
            continue;
        }
        let features = spec
            .split_once("features")
            .and_then(|(_, rest)| rest.split_once('[')?.1.split_once(']'))
            .map(|(list, _)| {
                list.split(',')
                    .map(|f| f.trim().trim_matches('"').to_owned())
                    .filter(|f| !f.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        deps.insert(name.trim().replace('-', "_"), features);
    }
    deps
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path in `code` as its first two segments (`tokio::time::sleep` →
/// `("tokio", "time")`), comments left out. Paths that start with a name a
/// `use` brought in, or with a type (`Duration::from_secs`), are not
/// crate paths and are left out too.
fn crate_paths(code: &str) -> Vec<(String, String)> {
    let code: String = code
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    let mut imported = BTreeSet::new();
    for statement in code.split(';') {
        if let Some(rest) = statement.trim_start().strip_prefix("use ") {
            // Everything a `use` names after its root becomes a local name.
            let mut names = rest.split(|c: char| !is_ident(c)).filter(|s| !s.is_empty());
            names.next();
            imported.extend(names.map(str::to_owned));
        }
    }
    let chars: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i + 1 < chars.len() {
        if chars[i] == ':' && chars[i + 1] == ':' {
            let mut start = i;
            while start > 0 && is_ident(chars[start - 1]) {
                start -= 1;
            }
            let before = start.checked_sub(1).map(|b| chars[b]);
            let root: String = chars[start..i].iter().collect();
            let mut end = i + 2;
            while end < chars.len() && is_ident(chars[end]) {
                end += 1;
            }
            let second: String = chars[i + 2..end].iter().collect();
            let starts_a_path = !root.is_empty() && before != Some(':');
            if starts_a_path
                && root.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && !NOT_CRATES.contains(&root.as_str())
                && !imported.contains(&root)
            {
                paths.push((root, second));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    paths
}

#[test]
fn the_cargo_toml_snippet_lists_every_crate_the_examples_use() {
    let readme = readme();
    let snippets = blocks(&readme, "toml");
    let snippet = snippets
        .iter()
        .find(|b| b.contains("[dependencies]"))
        .expect("a Cargo.toml snippet with [dependencies]");
    let deps = snippet_dependencies(snippet);
    assert!(deps.contains_key("ivs_client"), "{deps:?}");

    let rust = blocks(&readme, "rust");
    assert!(rust.len() >= 4, "found only {} rust blocks", rust.len());
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for (root, second) in rust.iter().flat_map(|b| crate_paths(b)) {
        if DOCTEST_ONLY.contains(&root.as_str()) {
            continue;
        }
        let Some(features) = deps.get(&root) else {
            problems.push(format!(
                "`{root}::{second}` is used, `{root}` is not in the snippet"
            ));
            continue;
        };
        used.insert(root.clone());
        if root == "tokio" {
            match TOKIO_FEATURES.iter().find(|(item, _)| *item == second) {
                Some((_, needs)) => {
                    for need in *needs {
                        if !features.contains(*need) {
                            problems.push(format!(
                                "`tokio::{second}` needs tokio's feature \"{need}\", not in the snippet"
                            ));
                        }
                    }
                }
                None => problems.push(format!(
                    "`tokio::{second}`: add its features to TOKIO_FEATURES in this test"
                )),
            }
        }
    }
    for name in deps.keys() {
        if !used.contains(name) {
            problems.push(format!(
                "`{name}` is in the snippet, but no example uses it"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "README.md:\n  {}",
        problems.join("\n  ")
    );
}

/// The scanner itself: what it must and must not take for a crate.
#[test]
fn crate_paths_finds_roots_and_skips_local_names() {
    let code = "use std::time::Duration;\nuse ivs_client::{model, Client};\n\
                #[tokio::main]\nasync fn main() {\n\
                let d = Duration::from_secs(1); // futures::never\n\
                let r = model::TokenRequest::new(x);\n\
                tokio::time::sleep(d).await;\n\
                let n = u64::MAX;\n}\n";
    let roots: Vec<(String, String)> = crate_paths(code);
    let expected: Vec<(String, String)> =
        [("ivs_client", ""), ("tokio", "main"), ("tokio", "time")]
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
    assert_eq!(roots, expected);
    let deps = snippet_dependencies(
        "[package]\nname = \"x\"\n[dependencies]\nivs-client = \"0.1\"\n\
         tokio = { version = \"1\", features = [\"macros\", \"time\"] }\n",
    );
    assert_eq!(deps.len(), 2, "{deps:?}");
    assert!(deps["tokio"].contains("time"));
    assert!(deps["ivs_client"].is_empty());
}
