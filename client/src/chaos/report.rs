//! The report of a chaos run: `report.json` for programs and `report.html` for people, a
//! self-contained page (inline SVG and CSS, no script, nothing fetched) with a timeline of
//! the faults, the failovers and each shard's availability, and the tables behind it.

use super::checker::{percentile, Verdict, WINDOW_MS};
use super::monitor::Event;
use super::schedule::Kind;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// What the run was, for the report's header.
pub struct Setup {
    pub seed: u64,
    pub seconds: u64,
    pub node_timeout_ms: u64,
    pub cluster: String,
    pub partitions: String,
    pub kinds: Vec<Kind>,
    pub ids: Vec<String>,
}

fn opt(v: Option<u64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

fn short(id: &str) -> &str {
    &id[..8.min(id.len())]
}

pub fn json(setup: &Setup, v: &Verdict) -> Value {
    let faults: Vec<Value> = v
        .faults
        .iter()
        .map(|r| {
            let f = &r.fault;
            json!({
                "kind": f.kind.name(),
                "description": f.desc,
                "nodes": f.nodes,
                "shards": f.shards,
                "start_ms": f.start_ms,
                "end_ms": f.end_ms,
                "ready_ms": opt(f.ready_ms),
                "detection_ms": opt(r.detection_ms),
                "failover_ms": opt(r.failover_ms),
                "mttr_ms": r.mttr_ms(),
                "reads_backwards": r.backwards,
                "may_fail_over": f.may_fail_over,
            })
        })
        .collect();
    let shards: Vec<Value> = v
        .shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "shard": i,
                "writes": s.writes,
                "acknowledged": s.acked,
                "wait_confirmed": s.confirmed,
                "plain_acknowledged": s.unconfirmed,
                "lost_wait_confirmed": s.lost_confirmed.len(),
                "lost_wait_confirmed_first": &s.lost_confirmed[..s.lost_confirmed.len().min(10)],
                "lost_plain": s.lost_plain,
                "reads": s.reads,
                "reads_backwards": s.backwards,
                "reads_backwards_late_write": s.backwards_late,
                "reads_below_confirmed": s.below_confirmed,
                "reads_below_confirmed_late_write": s.below_late,
                "reads_backwards_at_ms": &s.backwards_at[..s.backwards_at.len().min(100)],
                "probes": s.probes,
                "overlapping_primaries": s.overlaps.len(),
                "availability": s.availability(),
                "faults": s.faults,
                "mtbf_ms": s.mtbf_ms(v.run_ms),
                "mttr_ms": {
                    "p50": percentile(&s.mttr_ms, 50.0),
                    "p95": percentile(&s.mttr_ms, 95.0),
                    "max": s.mttr_ms.iter().max().copied().unwrap_or(0),
                    "mean": s.mttr_mean_ms(),
                },
                "a": s.a(v.run_ms),
                "windows_ms": WINDOW_MS,
                "windows_up": s.windows.iter().filter(|w| **w).count(),
                "windows": s.windows.len(),
            })
        })
        .collect();
    let by_kind: Vec<Value> = Kind::ALL
        .iter()
        .filter(|k| v.faults.iter().any(|f| f.fault.kind == **k))
        .map(|&k| {
            let m = v.mttr_of(k);
            let det: Vec<u64> = v
                .faults
                .iter()
                .filter(|f| f.fault.kind == k)
                .filter_map(|f| f.detection_ms)
                .collect();
            let fo: Vec<u64> = v
                .faults
                .iter()
                .filter(|f| f.fault.kind == k)
                .filter_map(|f| f.failover_ms)
                .collect();
            json!({
                "kind": k.name(),
                "faults": m.len(),
                "mttr_ms": {"p50": percentile(&m, 50.0), "p95": percentile(&m, 95.0), "max": m.iter().max()},
                "detected": det.len(),
                "detection_ms_p50": (!det.is_empty()).then(|| percentile(&det, 50.0)),
                "failed_over": fo.len(),
                "failover_ms_p50": (!fo.is_empty()).then(|| percentile(&fo, 50.0)),
            })
        })
        .collect();
    let failovers: Vec<Value> = v
        .failovers
        .iter()
        .map(|e| json!({"at_ms": e.at_ms, "winner": e.node, "old_primary": e.shard}))
        .collect();
    let false_failovers: Vec<Value> = v
        .false_failovers
        .iter()
        .map(|f| json!({"at_ms": f.at_ms, "old_primary": f.old, "winner": f.winner, "during_fault": f.during}))
        .collect();
    json!({
        "setup": {
            "seed": setup.seed,
            "seconds": setup.seconds,
            "node_timeout_ms": setup.node_timeout_ms,
            "cluster": setup.cluster,
            "partitions": setup.partitions,
            "fault_kinds": setup.kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
            "node_ids": setup.ids,
        },
        "run_ms": v.run_ms,
        "passed": v.passed(),
        "invariants": {
            "lost_wait_confirmed": v.lost_confirmed(),
            "lost_plain": v.shards.iter().map(|s| s.lost_plain).sum::<u64>(),
            "reads_backwards": v.backwards(),
            "reads_backwards_late_write": v.backwards_late(),
            "reads_below_confirmed": v.below_confirmed(),
            "reads_below_confirmed_late_write": v.below_late(),
            "overlapping_primaries": v.overlaps(),
            "false_failovers": v.false_failovers.len(),
        },
        "by_kind": by_kind,
        "faults": faults,
        "shards": shards,
        "failovers": failovers,
        "false_failovers": false_failovers,
    })
}

/// Text-safe for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(k: Kind) -> &'static str {
    match k {
        Kind::Kill => "#d62728",
        Kind::Pause => "#ff7f0e",
        Kind::Partition => "#9467bd",
        Kind::Slow => "#8c564b",
    }
}

fn ms(v: Option<u64>) -> String {
    v.map_or("–".into(), |x| format!("{x}"))
}

/// The timeline: a lane of faults (a marker at each start, a bar while it lasted), a lane
/// of failovers, and per shard its availability per second (the share of its 100 ms
/// windows with an acknowledged write).
fn timeline(setup: &Setup, v: &Verdict, failovers: &[Event]) -> String {
    let (left, width) = (90.0, 1100.0);
    let run_s = (v.run_ms as f64 / 1000.0).max(1.0);
    let x = |ms: u64| left + width * (ms as f64 / 1000.0) / run_s;
    let lane = 34.0;
    let shards = v.shards.len();
    let height = 40.0 + lane * (2 + shards) as f64 + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        left + width + 20.0
    );
    let y_faults = 30.0;
    let y_fo = y_faults + lane;
    let _ = write!(s, r#"<text x="4" y="{}">faults</text>"#, y_faults + 18.0);
    let _ = write!(s, r#"<text x="4" y="{}">failovers</text>"#, y_fo + 18.0);
    for (k, r) in v.faults.iter().enumerate() {
        let f = &r.fault;
        let (x0, x1) = (x(f.start_ms), x(f.end_ms).max(x(f.start_ms) + 2.0));
        let c = color(f.kind);
        let _ = write!(
            s,
            r#"<g class="fault-marker" data-kind="{}" data-index="{k}"><title>#{k} {} at {:.1} s: {} (detection {} ms, failover {} ms, MTTR {} ms)</title><rect x="{x0:.1}" y="{}" width="{:.1}" height="14" fill="{c}" opacity="0.45"/><path d="M{x0:.1},{} l-5,-9 h10 z" fill="{c}"/></g>"#,
            f.kind.name(),
            f.kind.name(),
            f.start_ms as f64 / 1000.0,
            esc(&f.desc),
            ms(r.detection_ms),
            ms(r.failover_ms),
            r.mttr_ms(),
            y_faults + 10.0,
            x1 - x0,
            y_faults + 10.0,
        );
    }
    for e in failovers {
        let (cx, cy) = (x(e.at_ms), y_fo + 16.0);
        let bad = v
            .false_failovers
            .iter()
            .any(|f| f.at_ms == e.at_ms && f.old == e.shard);
        let _ = write!(
            s,
            r#"<g class="failover-marker"><title>failover at {:.1} s: {} replaced {}{}</title><path d="M{cx:.1},{} l6,6 l-6,6 l-6,-6 z" fill="{}"/></g>"#,
            e.at_ms as f64 / 1000.0,
            short(&e.node),
            short(&e.shard),
            if bad { " (FALSE failover)" } else { "" },
            cy - 6.0,
            if bad { "#000" } else { "#1f77b4" }
        );
    }
    let per_s = (1000 / WINDOW_MS) as usize;
    for (i, sh) in v.shards.iter().enumerate() {
        let y = y_fo + lane * (i + 1) as f64;
        let _ = write!(
            s,
            r#"<text x="4" y="{}">shard {i} {:.2}%</text>"#,
            y + 18.0,
            100.0 * sh.availability()
        );
        for (sec, chunk) in sh.windows.chunks(per_s).enumerate() {
            let up = chunk.iter().filter(|w| **w).count() as f64 / chunk.len() as f64;
            let h = 24.0 * up;
            let fill = if up >= 0.999 {
                "#2ca02c"
            } else if up >= 0.5 {
                "#bcbd22"
            } else {
                "#d62728"
            };
            let _ = write!(
                s,
                r#"<rect class="avail" x="{:.1}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{fill}"><title>shard {i}, second {sec}: {:.0}% of windows with a write</title></rect>"#,
                x(sec as u64 * 1000),
                y + 4.0 + (24.0 - h),
                (width / run_s).max(0.5),
                h.max(1.0),
                100.0 * up
            );
        }
    }
    for (i, sh) in v.shards.iter().enumerate() {
        let y = y_fo + lane * (i + 1) as f64;
        let mut last_x = f64::NEG_INFINITY;
        for &t in &sh.backwards_at {
            let bx = x(t);
            if bx - last_x < 2.0 {
                continue;
            }
            last_x = bx;
            let _ = write!(
                s,
                r##"<g class="backwards-marker"><title>shard {i}: a read went backwards at {:.2} s</title><rect x="{:.1}" y="{:.1}" width="2" height="30" fill="#000"/></g>"##,
                t as f64 / 1000.0,
                bx - 1.0,
                y + 1.0
            );
        }
    }
    let y_axis = y_fo + lane * (shards + 1) as f64 + 8.0;
    let step = if run_s > 300.0 {
        60
    } else if run_s > 60.0 {
        10
    } else {
        5
    };
    let mut t = 0;
    while (t as f64) <= run_s {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="24" y2="{y_axis}" stroke="#ccc" stroke-width="0.5"/><text x="{0:.1}" y="{1}" text-anchor="middle">{t}s</text>"##,
            x(t * 1000),
            y_axis + 14.0
        );
        t += step;
    }
    let _ = setup;
    s.push_str("</svg>");
    s
}

pub fn html(setup: &Setup, v: &Verdict) -> String {
    let mut h = String::new();
    let verdict = if v.passed() { "PASSED" } else { "FAILED" };
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>slotcache chaos run, seed {seed}</title>
<style>body{{font-family:sans-serif;margin:20px;color:#222}}table{{border-collapse:collapse;margin:10px 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f4f4f4}}td.l{{text-align:left}}.ok{{color:#2ca02c}}.bad{{color:#d62728;font-weight:bold}}.key span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}}</style></head><body>
<h1>Chaos run: <span class="{cls}">{verdict}</span></h1>
<p>Seed {seed}, {secs:.0} s, {nfaults} faults, cluster-node-timeout {nt} ms. Cluster: {cluster}. Partitions: {parts}.</p>"#,
        seed = setup.seed,
        cls = if v.passed() { "ok" } else { "bad" },
        secs = v.run_ms as f64 / 1000.0,
        nfaults = v.faults.len(),
        nt = setup.node_timeout_ms,
        cluster = esc(&setup.cluster),
        parts = esc(&setup.partitions),
    );
    let inv = |n: u64| {
        if n == 0 {
            format!(r#"<td class="ok">{n}</td>"#)
        } else {
            format!(r#"<td class="bad">{n}</td>"#)
        }
    };
    let _ = write!(
        h,
        "<h2>Invariants</h2><table><tr><th>WAIT-confirmed writes lost</th><th>reads below a confirmed value</th><th>overlapping primaries</th><th>false failovers</th><th>reads backwards</th><th>of which late writes</th><th>reads below confirmed by a late write</th><th>plain writes lost</th></tr><tr>{}{}{}{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table><p>The first four are promises. The others are not: a plain write (no WAIT) acknowledged by a primary that dies before replicating it is lost, and a read of it can be followed by a read of the older value; a write whose outcome the client never learned (it timed out or lost its connection) can take effect late, after writes sent since (a late write), so a read can see the counter step back to it.</p>",
        inv(v.lost_confirmed() as u64),
        inv(v.below_confirmed()),
        inv(v.overlaps() as u64),
        inv(v.false_failovers.len() as u64),
        v.backwards(),
        v.backwards_late(),
        v.below_late(),
        v.shards.iter().map(|s| s.lost_plain).sum::<u64>()
    );
    h.push_str(r#"<h2>Timeline</h2><p class="key">"#);
    for k in Kind::ALL {
        let _ = write!(
            h,
            r#"<span style="background:{}"></span>{}"#,
            color(k),
            k.name()
        );
    }
    h.push_str(r##"<span style="background:#1f77b4"></span>failover <span style="background:#2ca02c"></span>shard available (per second) <span style="background:#000"></span>read went backwards</p>"##);
    h.push_str(&timeline(setup, v, &v.failovers));
    h.push_str("<h2>MTTR per fault type</h2><table><tr><th>fault</th><th>count</th><th>MTTR p50 ms</th><th>p95 ms</th><th>max ms</th><th>detected</th><th>failed over</th><th>failover p50 ms</th></tr>");
    for r in v.by_kind() {
        let _ = write!(
            h,
            r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            r.kind.name(),
            r.count,
            r.mttr_p50,
            r.mttr_p95,
            r.mttr_max,
            r.detected,
            r.failed_over,
            r.failover_p50.map_or("–".into(), |p| p.to_string())
        );
    }
    h.push_str("</table><h2>Per shard</h2><table><tr><th>shard</th><th>availability</th><th>faults</th><th>MTBF s</th><th>MTTR p50 ms</th><th>p95 ms</th><th>max ms</th><th>A = MTBF/(MTBF+MTTR)</th><th>acked writes</th><th>WAIT-confirmed</th><th>lost confirmed</th><th>lost plain</th><th>reads</th><th>backwards</th><th>below confirmed</th><th>overlaps</th></tr>");
    for (i, s) in v.shards.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td>{i}</td><td>{:.3}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td>{}{}</tr>",
            100.0 * s.availability(),
            s.faults,
            s.mtbf_ms(v.run_ms).map_or("–".into(), |m| format!("{:.1}", m / 1000.0)),
            percentile(&s.mttr_ms, 50.0),
            percentile(&s.mttr_ms, 95.0),
            s.mttr_ms.iter().max().unwrap_or(&0),
            s.a(v.run_ms).map_or("–".into(), |a| format!("{:.4}", a)),
            s.acked,
            s.confirmed,
            inv(s.lost_confirmed.len() as u64),
            s.lost_plain,
            s.reads,
            s.backwards,
            inv(s.below_confirmed),
            inv(s.overlaps.len() as u64),
        );
    }
    h.push_str("</table><h2>Faults</h2><table><tr><th>#</th><th>start s</th><th>kind</th><th class=\"l\">what</th><th>shards</th><th>lifted after ms</th><th>detection ms</th><th>failover ms</th><th>MTTR ms</th><th>whole again after ms</th><th>reads backwards</th></tr>");
    for (k, r) in v.faults.iter().enumerate() {
        let f = &r.fault;
        let _ = write!(
            h,
            r#"<tr><td>{k}</td><td>{:.1}</td><td class="l">{}</td><td class="l">{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            f.start_ms as f64 / 1000.0,
            f.kind.name(),
            esc(&f.desc),
            f.shards,
            f.end_ms - f.start_ms,
            ms(r.detection_ms),
            ms(r.failover_ms),
            r.mttr_ms(),
            ms(f.ready_ms.map(|t| t.saturating_sub(f.start_ms))),
            r.backwards,
        );
    }
    h.push_str("</table>");
    if !v.false_failovers.is_empty() {
        h.push_str("<h2>False failovers</h2><ul>");
        for f in &v.false_failovers {
            let _ = write!(
                h,
                "<li>at {:.1} s: {} replaced {} (during fault {:?})</li>",
                f.at_ms as f64 / 1000.0,
                short(&f.winner),
                short(&f.old),
                f.during
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("<p>Detection: the first node_fail event about a faulted node; failover: the first failover away from a touched shard's primary (both from the nodes' __slotcache__:events); MTTR: the longest time the touched shards' writers went without an acknowledged write, from the fault until the cluster was whole again; availability: the share of 100 ms windows with an acknowledged write; MTBF: the run's length over the faults that touched the shard.</p></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::checker::judge;
    use crate::chaos::load::Seen;
    use crate::chaos::schedule::Fault;
    use cluster_tests::partition_lab::WriterLog;

    #[test]
    fn the_page_has_one_marker_per_fault_and_escapes_descriptions() {
        let ids: Vec<String> = ["p0", "r0"].map(String::from).into();
        let seen = Seen {
            writes: vec![WriterLog {
                ok_ms: (0..5000).step_by(10).collect(),
                ..Default::default()
            }],
            reads: vec![Default::default()],
            probes: vec![vec![]],
        };
        let faults: Vec<Fault> = (0..3)
            .map(|k| Fault {
                kind: Kind::ALL[k],
                desc: "<cut> & healed".into(),
                nodes: vec![0],
                shards: vec![0],
                primaries: vec![0],
                may_fail_over: vec![0],
                start_ms: 1000 * k as u64,
                end_ms: 1000 * k as u64 + 500,
                ready_ms: None,
            })
            .collect();
        let v = judge(&seen, &[(vec![], 0)], &faults, &[], &ids, 5000);
        let setup = Setup {
            seed: 1,
            seconds: 5,
            node_timeout_ms: 700,
            cluster: "test".into(),
            partitions: "none".into(),
            kinds: Kind::ALL.to_vec(),
            ids,
        };
        let page = html(&setup, &v);
        assert_eq!(page.matches(r#"class="fault-marker""#).count(), 3);
        assert!(!page.contains("<cut>"));
        assert!(page.contains("&lt;cut&gt; &amp; healed"));
        assert!(!page.contains("<script"), "the page needs no script");
        let j = json(&setup, &v);
        assert_eq!(j["faults"].as_array().map(Vec::len), Some(3));
        assert_eq!(j["passed"], true);
    }
}
