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
    // Entries may span several lines (rustfmt): take each `p(` / `pa(` up to its `),`.
    let bytes = body.as_bytes();
    let mut i = 0;
    while i + 3 < bytes.len() {
        let boundary = i == 0 || bytes[i - 1].is_ascii_whitespace() || bytes[i - 1] == b'[';
        let (is_alias, open) = if body[i..].starts_with("pa(") {
            (true, i + 3)
        } else if body[i..].starts_with("p(") {
            (false, i + 2)
        } else {
            i += 1;
            continue;
        };
        if !boundary {
            i += 1;
            continue;
        }
        let end = body[open..].find("),").map_or(body.len(), |e| open + e);
        let strings: Vec<&str> = body[open..end].split('"').skip(1).step_by(2).collect();
        let (n, d) = if is_alias { (0, 2) } else { (0, 1) };
        if strings.len() > d {
            out.push((strings[n].to_string(), strings[d].to_string()));
        }
        i = end;
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
