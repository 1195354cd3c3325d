//! The ACL file (`aclfile`) and the config file's `user` lines: parsing them into users,
//! all or nothing, and writing the users back (ACL SAVE).

use super::user::{valid_name, Rules};
use super::Registry;
use bytes::Bytes;
use std::path::Path;

/// Parses an ACL file's text into users (Redis's `ACLLoadFromFile`): any error leaves
/// nothing loaded, and all the errors are reported in one line.
pub fn parse(
    text: &str,
    filename: &str,
    pubsub_all: bool,
) -> Result<Vec<(Vec<u8>, Rules)>, String> {
    let mut users: Vec<(Vec<u8>, Rules)> = Vec::new();
    let mut errors = String::new();
    for (i, raw) in text.split('\n').enumerate() {
        let linenum = i + 1;
        let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&str> = line.split(' ').collect();
        if argv.first() != Some(&"user") || argv.len() < 2 {
            errors.push_str(&format!(
                "{filename}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1].as_bytes();
        if !valid_name(name) {
            errors.push_str(&format!(
                "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                argv[1]
            ));
            continue;
        }
        if users.iter().any(|(n, _)| n == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                argv[1]
            ));
            continue;
        }
        let words: Vec<Bytes> = argv[2..]
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let ops = match super::merge_selectors(&words) {
            Ok(ops) => ops,
            Err(_) => {
                errors.push_str(&format!(
                    "{filename}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut rules = Rules::new(pubsub_all);
        for op in &ops {
            let op: Vec<u8> = trim(op);
            if let Err(e) = rules.apply(&op, pubsub_all) {
                errors.push_str(&format!("{filename}:{linenum}: {}. ", e.message()));
            }
        }
        users.push((name.to_vec(), rules));
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

fn trim(op: &[u8]) -> Vec<u8> {
    let is_ws = |b: &u8| matches!(b, b'\t' | b'\r' | b'\n');
    let start = op.iter().position(|b| !is_ws(b)).unwrap_or(op.len());
    let end = op.iter().rposition(|b| !is_ws(b)).map_or(start, |e| e + 1);
    op[start..end.max(start)].to_vec()
}

/// Loads the ACL file into the registry; the users that went away (their clients must be
/// closed). The error is Redis's text.
pub fn load(reg: &Registry, path: &Path) -> Result<Vec<std::sync::Arc<super::User>>, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{name}': {}", io_text(&e)))?;
    let users = parse(&text, &name, reg.pubsub_all())?;
    Ok(reg.replace_all(users))
}

/// The C library's wording of common I/O errors, as Redis reports them.
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// Writes every user to the ACL file through a temporary file renamed over it.
pub fn save(reg: &Registry, path: &Path) -> std::io::Result<()> {
    let mut text = String::new();
    for u in reg.all() {
        text.push_str("user ");
        text.push_str(&u.name_str());
        text.push(' ');
        text.push_str(&u.rules().describe());
        text.push('\n');
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    ));
    let tmp = std::path::PathBuf::from(tmp);
    let res = std::fs::write(&tmp, text.as_bytes()).and_then(|_| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Loads the users of the config file's `user` lines (each a list of rules after the
/// name); a rule that does not apply is a startup error, as in Redis.
pub fn load_config_users(reg: &Registry, lines: &[Vec<String>]) -> Result<(), String> {
    let mut users: Vec<(Vec<u8>, Rules)> = Vec::new();
    for words in lines {
        let Some((name, rest)) = words.split_first() else {
            continue;
        };
        if !valid_name(name.as_bytes()) {
            return Err("Spaces not allowed in ACL usernames".into());
        }
        if users.iter().any(|(n, _)| n == name.as_bytes()) {
            return Err(format!(
                "Duplicate user '{name}' found: {}",
                super::RuleError::Duplicate.message()
            ));
        }
        let words: Vec<Bytes> = rest
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let ops = super::merge_selectors(&words)
            .map_err(|_| format!("Unmatched parenthesis in the rules of user '{name}'"))?;
        let mut rules = Rules::new(reg.pubsub_all());
        if name == "default" {
            let _ = rules.apply(b"reset", reg.pubsub_all());
        }
        for op in &ops {
            rules.apply(op, reg.pubsub_all()).map_err(|e| {
                format!(
                    "Error loading ACL rule '{}' for the user named '{name}': {}",
                    String::from_utf8_lossy(op),
                    e.message()
                )
            })?;
        }
        users.push((name.as_bytes().to_vec(), rules));
    }
    if users.is_empty() {
        return Ok(());
    }
    // Users of the config file come on top of the default user (unless they redefine it).
    if !users.iter().any(|(n, _)| n == b"default") {
        users.push((b"default".to_vec(), reg.default_user().rules().clone()));
    }
    reg.replace_all(users);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_loads_whole_or_not_at_all() {
        let ok = parse(
            "user a on nopass ~* +@all\n\nuser b off (~x +get)\n",
            "f.acl",
            false,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].1.selectors.len(), 2);
        let err = parse("user a on +nosuch\nfoo\nuser a on\n", "f.acl", false).unwrap_err();
        assert_eq!(
            err,
            "f.acl:1: Unknown command or category name in ACL. f.acl:2 should start with user keyword followed by the username. WARNING: Duplicate user 'a' found on line 3. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        );
    }
}
