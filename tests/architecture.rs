//! The layout keeps its promises: imports in `src/` run downward, from HTTP
//! to validation to the network to keys and tokens to the leaves, and no
//! module imports one that imports it back. The validator knows no HTTP
//! server; key handling, the network and introspection know no validator
//! and no middleware.
//!
//! Read from the source text: every `crate::`, `super::` and `self::` path
//! outside comments and test modules is an import of the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module may import modules of lower layers,
/// and modules of its own top-level folder (without a loop).
const LAYERS: &[&[&str]] = &[
    &["clock", "json", "digest", "file", "telemetry", "limits"],
    &["keys"],
    &["jwt", "claims", "dpop"],
    &["remote", "store"],
    &["introspection"],
    &["validator"],
    &["http"],
    &["axum", "client", "config", "mcp"],
    &["testing"],
    // Documentation. (The `bearer-guard` command is a package of its own,
    // `cli/`, on the public API only.)
    &["guide"],
];

/// Modules outside the layering: the crate root (re-exports) and test-only
/// modules.
const UNLAYERED: &[&str] = &["crate", "wycheproof"];

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split("::").next().unwrap_or(module);
    LAYERS.iter().position(|l| l.contains(&top))
}

/// Module path of each file under `src/` (`keys::set`, `remote::jwks`...),
/// with its text outside comments and `#[cfg(test)] mod tests`.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = match parts.as_slice() {
                [only] if only == "lib" => "crate".to_owned(),
                _ => parts.join("::"),
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.insert(name, code);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The identifier paths that follow `prefix::` in `code`, expanding
/// `prefix::{a, b::c}` groups one level.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let needle = format!("{prefix}::");
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + needle.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item: String = item.trim().chars().take_while(|c| ident(*c)).collect();
                if !item.is_empty() {
                    out.push(item);
                }
            }
        } else {
            let item: String = rest.chars().take_while(|c| ident(*c)).collect();
            out.push(item);
        }
    }
    out
}

/// The module named by `path` (the longest known module prefix).
fn resolve(path: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| known.contains_key(candidate))
}

/// Module -> the modules it imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let mut graph = BTreeMap::new();
    for (name, code) in &modules {
        let mut targets = BTreeSet::new();
        let parent = name.rsplit_once("::").map(|(p, _)| p.to_owned());
        let is_folder = modules.keys().any(|k| k.starts_with(&format!("{name}::")));
        for path in paths_after(code, "crate") {
            targets.extend(resolve(&path, &modules));
        }
        // `super::` is the parent of a file, `self::` a folder's child.
        let own = |p: &str, base: Option<&str>| match base {
            Some(base) => format!("{base}::{p}"),
            None => p.to_owned(),
        };
        for path in paths_after(code, "super") {
            let base = parent.as_deref();
            match resolve(&own(&path, base), &modules) {
                Some(target) => {
                    targets.insert(target);
                }
                // `super::Item`: an item of the parent module itself.
                None => targets.extend(base.map(str::to_owned)),
            }
        }
        if is_folder && name != "crate" {
            for path in paths_after(code, "self") {
                targets.extend(resolve(&own(&path, Some(name)), &modules));
            }
        }
        targets.remove(name);
        targets.remove("crate");
        graph.insert(name.clone(), targets);
    }
    graph
}

/// The strongly connected components with more than one module: the loops.
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then walk the transposed graph.
    fn visit(
        v: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(v.to_owned()) {
            return;
        }
        for w in g.get(v).into_iter().flatten() {
            visit(w, g, seen, order);
        }
        order.push(v.to_owned());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for v in graph.keys() {
        visit(v, graph, &mut seen, &mut order);
    }
    let mut transposed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (v, targets) in graph {
        for w in targets {
            transposed.entry(w.clone()).or_default().insert(v.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut components = Vec::new();
    for v in order.iter().rev() {
        let mut component = Vec::new();
        visit(v, &transposed, &mut assigned, &mut component);
        if component.len() > 1 {
            component.sort();
            components.push(component);
        }
    }
    components
}

#[test]
fn the_source_has_no_import_loop() {
    let graph = imports();
    assert!(graph.len() > 20, "{} modules read", graph.len());
    let loops = loops(&graph);
    assert!(loops.is_empty(), "import loops: {loops:?}");
}

#[test]
fn imports_run_downward() {
    let mut upward = Vec::new();
    for (module, targets) in imports() {
        if UNLAYERED.contains(&module.as_str()) {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            panic!("module {module} is in no layer: add it to LAYERS");
        };
        let top = module.split("::").next().unwrap_or_default();
        for target in targets {
            let same_folder = target.split("::").next() == Some(top);
            match layer_of(&target) {
                Some(layer) if layer < own || same_folder => {}
                _ => upward.push(format!("{module} -> {target}")),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not run downward: {upward:#?}"
    );
}

#[test]
fn the_validator_knows_no_http_and_key_handling_no_middleware() {
    let graph = imports();
    let under = |prefix: &'static str| {
        graph
            .iter()
            .filter(move |(m, _)| m.as_str() == prefix || m.starts_with(&format!("{prefix}::")))
    };
    for (module, targets) in under("validator") {
        for t in targets {
            assert!(
                !t.starts_with("http") && !t.starts_with("axum"),
                "{module} imports {t}"
            );
        }
    }
    for lower in ["keys", "remote", "introspection", "jwt", "claims"] {
        for (module, targets) in under(lower) {
            for t in targets {
                assert!(
                    !["http", "axum", "validator", "testing"]
                        .iter()
                        .any(|upper| t.starts_with(upper)),
                    "{module} imports {t}"
                );
            }
        }
    }
}

#[test]
fn the_reader_sees_the_imports_it_should() {
    // The reader itself: a known downward import, and a known folder-internal
    // one, are found (so that the tests above cannot pass by reading nothing).
    let graph = imports();
    assert!(
        graph["validator"].contains("keys"),
        "{:?}",
        graph["validator"]
    );
    assert!(graph["http::layer"].contains("validator"));
    assert!(graph["keys::set"].contains("keys::jwk"));
    assert!(graph["remote::jwks"].contains("remote::fetch"));
}
