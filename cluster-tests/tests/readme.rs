//! The configuration reference in README.md stays consistent with the parameter registry
//! (`PARAMS` in server/src/config.rs): every parameter listed, with its current default.

use std::path::Path;

/// (name, default) of every `p(...)`/`pa(...)` entry in the PARAMS slice, read from source
/// so this test needs no dependency on the server crate.
fn params() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = std::fs::read_to_string(root.join("server/src/config.rs")).expect("config.rs");
    let start = src.find("pub static PARAMS").expect("PARAMS in config.rs");
    let body = &src[start..];
    let body = &body[..body.find("\n];").expect("end of PARAMS")];
    let mut out = Vec::new();
    for line in body.lines().map(str::trim) {
        let (is_alias, rest) = if let Some(r) = line.strip_prefix("pa(") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("p(") {
            (false, r)
        } else {
            continue;
        };
        let strings: Vec<&str> = rest.split('"').skip(1).step_by(2).collect();
        let (name, default) = if is_alias {
            (strings[0], strings[2])
        } else {
            (strings[0], strings[1])
        };
        out.push((name.to_string(), default.to_string()));
    }
    out
}

#[test]
fn readme_lists_every_parameter_with_its_default() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let params = params();
    assert!(params.len() > 50, "parsed only {} parameters", params.len());
    let mut missing = Vec::new();
    for (name, default) in &params {
        let shown = if default.is_empty() {
            "\"\"".to_string()
        } else {
            default.clone()
        };
        let found = readme.lines().any(|l| {
            l.starts_with(&format!("| `{name}`")) && l.contains(&format!("| `{shown}` |"))
        });
        if !found {
            missing.push(format!("{name} (default {shown})"));
        }
    }
    assert!(
        missing.is_empty(),
        "README.md configuration table lacks or misstates: {}",
        missing.join(", ")
    );
}
