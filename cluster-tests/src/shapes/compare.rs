//! Comparing two servers' replies: type trees, values, field names, push messages apart.

use super::conn::Outcome;
use super::script::{Compare, Step};
use slotcache_proto::reply::Reply;
use std::collections::{BTreeMap, BTreeSet};

/// Sorts a list of replies, and the elements of every aggregate inside them, by their
/// rendering, for unordered comparison.
fn sorted_deep(v: &[Reply]) -> Vec<Reply> {
    let mut v: Vec<Reply> = v.iter().map(normalized).collect();
    v.sort_by_cached_key(Reply::render);
    v
}

fn normalized(r: &Reply) -> Reply {
    match r {
        Reply::Array(v) => Reply::Array(sorted_deep(v)),
        Reply::Set(v) => Reply::Set(sorted_deep(v)),
        Reply::Push(v) => Reply::Push(sorted_deep(v)),
        Reply::Map(m) => Reply::Map(
            m.iter()
                .map(|(k, v)| (normalized(k), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The field names in a text reply: the part before `:` of each `name:value` line (INFO,
/// CLUSTER INFO) or before `=` of each `name=value` word (CLIENT INFO, CLIENT LIST).
fn field_names(text: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(text);
    let mut names = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        if words.iter().all(|w| w.contains('=')) {
            names.extend(
                words
                    .iter()
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, _)| k.to_string()),
            );
        } else if let Some((k, _)) = line.split_once(':') {
            names.insert(k.to_string());
        }
    }
    names
}

fn text_of(r: &Reply) -> Option<&[u8]> {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => Some(b),
        Reply::Simple(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn map_key(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) => s.clone(),
        other => other.render(),
    }
}

/// Compares two replies; `Err` says where they first differ. Map entries are compared by
/// key whatever their order (RESP3 maps carry no order a client may rely on).
pub fn compare(a: &Reply, b: &Reply, how: Compare, unordered: bool) -> Result<(), String> {
    walk(a, b, how, unordered, "$")
}

fn walk(a: &Reply, b: &Reply, how: Compare, unordered: bool, path: &str) -> Result<(), String> {
    if let (Reply::Attribute(_, a), Reply::Attribute(_, b)) = (a, b) {
        return walk(a, b, how, unordered, path);
    }
    if a.kind() != b.kind() {
        return Err(format!("{path}: {} vs {}", a.kind(), b.kind()));
    }
    if let (Reply::Verbatim(fa, _), Reply::Verbatim(fb, _)) = (a, b) {
        if fa != fb {
            return Err(format!("{path}: verbatim format {fa} vs {fb}"));
        }
    }
    if let (Reply::Map(ma), Reply::Map(mb)) = (a, b) {
        let ka: BTreeMap<String, &Reply> = ma.iter().map(|(k, v)| (map_key(k), v)).collect();
        let kb: BTreeMap<String, &Reply> = mb.iter().map(|(k, v)| (map_key(k), v)).collect();
        if how != Compare::Loose {
            let only_a: Vec<_> = ka.keys().filter(|k| !kb.contains_key(*k)).collect();
            let only_b: Vec<_> = kb.keys().filter(|k| !ka.contains_key(*k)).collect();
            if !only_a.is_empty() || !only_b.is_empty() {
                return Err(format!(
                    "{path}: map keys only in slotcache {only_a:?}, only in redis {only_b:?}"
                ));
            }
        }
        for (k, va) in &ka {
            if let Some(vb) = kb.get(k) {
                walk(va, vb, how, unordered, &format!("{path}.{k}"))?;
            }
        }
        return Ok(());
    }
    if let (Some(ia), Some(ib)) = (a.items(), b.items()) {
        if how != Compare::Loose && ia.len() != ib.len() {
            return Err(format!("{path}: {} elements vs {}", ia.len(), ib.len()));
        }
        let (ia, ib) = if unordered {
            (sorted_deep(ia), sorted_deep(ib))
        } else {
            (ia.to_vec(), ib.to_vec())
        };
        for (i, (x, y)) in ia.iter().zip(ib.iter()).enumerate() {
            walk(x, y, how, unordered, &format!("{path}[{i}]"))?;
        }
        return Ok(());
    }
    if how == Compare::Values && a != b {
        return Err(format!("{path}: {} vs {}", a.render(), b.render()));
    }
    if let (Compare::Fields, Some(ta), Some(tb)) = (how, text_of(a), text_of(b)) {
        let (fa, fb) = (field_names(ta), field_names(tb));
        if fa != fb {
            return Err(format!(
                "{path}: fields only in slotcache {:?}, only in redis {:?}",
                fa.difference(&fb).collect::<Vec<_>>(),
                fb.difference(&fa).collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

pub(super) fn render_outcome(o: &Outcome) -> String {
    let s = match o {
        Ok(v) => v.iter().map(Reply::render).collect::<Vec<_>>().join(" ; "),
        Err(e) => format!("<{e}>"),
    };
    if s.len() > 600 {
        let mut end = 600;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// The replies with push messages moved after the rest, each kind in its own order. RESP3
/// lets pushes come before or after a command's reply (Redis itself puts a message to the
/// publishing client before PUBLISH's reply and a keyspace event after LPUSH's), so only
/// the order within each stream is compared.
fn pushes_last(v: &[Reply]) -> Vec<&Reply> {
    let (push, rest): (Vec<&Reply>, Vec<&Reply>) =
        v.iter().partition(|r| matches!(r, Reply::Push(_)));
    rest.into_iter().chain(push).collect()
}

pub(super) fn compare_outcomes(
    ours: &Outcome,
    theirs: &Outcome,
    step: &Step,
) -> Result<(), String> {
    let how = step.compare.unwrap_or(Compare::Shape);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => {
            if a.len() != b.len() {
                return Err(format!("{} replies vs {}", a.len(), b.len()));
            }
            for (x, y) in pushes_last(a).into_iter().zip(pushes_last(b)) {
                compare(x, y, how, step.unordered)?;
            }
            Ok(())
        }
        // Both closing the connection (QUIT) agree; both timing out hides the reply the
        // invocation was written to compare, so it counts as a difference.
        (Err(a), Err(b)) if a == b && !a.contains("timeout") => Ok(()),
        (Err(_), Err(_)) => Err("neither server replied".into()),
        _ => Err("one side failed to reply".into()),
    }
}

/// What is wrong with a setup command's replies, if anything: it must get its reply (or
/// every later reply is off by one), and fail on both servers or on neither (a setup that
/// only one server accepts would make every comparison after it meaningless).
pub(super) fn setup_problem(ours: &Outcome, theirs: &Outcome) -> Option<String> {
    let failed = |v: &[Reply]| v.iter().any(|r| matches!(r, Reply::Error(_)));
    match (ours, theirs) {
        (Err(e), _) | (_, Err(e)) => Some(format!("setup command got no reply: {e}")),
        (Ok(a), Ok(b)) if failed(a) != failed(b) => Some(format!(
            "setup command failed on one server only\n      slotcache: {}\n      redis:     {}",
            render_outcome(ours),
            render_outcome(theirs)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::Script;

    #[test]
    fn pushes_are_compared_apart_from_replies() {
        let push = Reply::Push(vec![Reply::Bulk(b"message".to_vec())]);
        let ours: Outcome = Ok(vec![push.clone(), Reply::Integer(1)]);
        let theirs: Outcome = Ok(vec![Reply::Integer(1), push]);
        let step = &Script::parse("= PUBLISH a b\n").unwrap().groups[0].steps[0];
        assert!(compare_outcomes(&ours, &theirs, step).is_ok());
        let fewer: Outcome = Ok(vec![Reply::Integer(1)]);
        assert!(compare_outcomes(&ours, &fewer, step).is_err());
    }

    #[test]
    fn field_compare_reads_info_lines_and_client_words() {
        let info = |t: &str| Reply::Bulk(t.as_bytes().to_vec());
        let a = info("# Server\r\nredis_version:1\r\nport:1\r\n");
        let b = info("# Server\r\nredis_version:2\r\nport:2\r\n");
        assert!(compare(&a, &b, Compare::Fields, false).is_ok());
        let c = info("# Server\r\nredis_version:2\r\n");
        assert!(compare(&a, &c, Compare::Fields, false).is_err());
        let l1 = info("id=1 addr=x name= flags=N\n");
        let l2 = info("id=2 addr=y name=z flags=N\n");
        assert!(compare(&l1, &l2, Compare::Fields, false).is_ok());
        let l3 = info("id=2 addr=y name=z\n");
        assert!(compare(&l1, &l3, Compare::Fields, false).is_err());
    }

    #[test]
    fn shape_compare_ignores_values_but_not_kinds() {
        let a = Reply::Array(vec![Reply::Bulk(b"1".to_vec())]);
        let b = Reply::Array(vec![Reply::Bulk(b"2".to_vec())]);
        assert!(compare(&a, &b, Compare::Shape, false).is_ok());
        assert!(compare(&a, &b, Compare::Values, false).is_err());
        let c = Reply::Array(vec![Reply::Double("1".into())]);
        assert!(compare(&a, &c, Compare::Shape, false).is_err());
        assert!(compare(&Reply::NullBulk, &Reply::NullArray, Compare::Shape, false).is_err());
    }
}
