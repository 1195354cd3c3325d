//! Tables for people and JSON for tools (written by hand: the format is small and fixed).

use crate::memory::Measure;
use crate::procs::Flavor;
use crate::throughput::Row;

fn rps(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into())
}

/// One line per test and pipeline depth: each server's median rps, then slotcache's ratio to
/// each peer, latencies, each server's CPU µs per request and the peer's CPU per request over
/// slotcache's (above 1: slotcache spends less; with slotcache's idle spin on, its CPU counts
/// the spin too: `--slotcache-arg=--idle-spin-us --slotcache-arg=0` to count only work).
pub fn throughput_table(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let peers: Vec<Flavor> = first
        .servers
        .iter()
        .copied()
        .filter(|&f| f != Flavor::Slotcache)
        .collect();
    let mut s = format!("{:<12} {:>8}", "test", "pipeline");
    for f in &first.servers {
        s += &format!(" {:>14}", format!("{} rps", f.label()));
    }
    for p in &peers {
        s += &format!(" {:>16}", format!("slotcache/{}", p.label()));
    }
    for f in &first.servers {
        s += &format!(" {:>18}", format!("{} p50/p99 ms", f.label()));
    }
    for f in &first.servers {
        s += &format!(" {:>14}", format!("{} cpu µs", f.label()));
    }
    for p in &peers {
        s += &format!(" {:>16}", format!("cpu {}/slotc", p.label()));
    }
    s.push('\n');
    for r in rows {
        s += &format!("{:<12} {:>8}", r.test.to_ascii_uppercase(), r.pipeline);
        for &f in &r.servers {
            s += &format!(" {:>14}", rps(r.rps(f)));
        }
        for &p in &peers {
            let ratio = r
                .ratio(p)
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into());
            s += &format!(" {ratio:>16}");
        }
        for &f in &r.servers {
            let lat = r
                .latency(f)
                .map(|(a, b)| format!("{a:.3}/{b:.3}"))
                .unwrap_or_else(|| "-".into());
            s += &format!(" {lat:>18}");
        }
        for &f in &r.servers {
            let cpu = r
                .cpu(f)
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into());
            s += &format!(" {cpu:>14}");
        }
        for &p in &peers {
            let ratio = r
                .cpu_ratio(p)
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into());
            s += &format!(" {ratio:>16}");
        }
        if !r.note.is_empty() {
            s += &format!("  ({})", r.note);
        }
        s.push('\n');
    }
    s
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

fn find(m: &[Measure], f: Flavor) -> Option<&Measure> {
    m.iter().find(|x| x.flavor == f)
}

pub fn memory_table(m: &[Measure]) -> String {
    let mut s = format!(
        "{:<10} {:>9} {:>12} {:>12} {:>14} {:>12} {:>9}\n",
        "server", "keys", "rss empty", "rss loaded", "used_memory", "rss B/key", "load s"
    );
    for x in m {
        s += &format!(
            "{:<10} {:>9} {:>12} {:>12} {:>14} {:>12.1} {:>9.2}\n",
            x.flavor.label(),
            x.keys,
            mib(x.rss_empty),
            mib(x.rss_loaded),
            x.used_memory.map(mib).unwrap_or_else(|| "n/a".into()),
            x.rss_per_key(),
            x.load_secs
        );
    }
    if let Some(a) = find(m, Flavor::Slotcache) {
        for b in m.iter().filter(|x| x.flavor != Flavor::Slotcache) {
            s += &format!(
                "slotcache/{} bytes per key (RSS): {:.2}\n",
                b.flavor.label(),
                a.rss_per_key() / b.rss_per_key()
            );
        }
    }
    s
}

fn opt_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o += "\\\"",
            '\\' => o += "\\\\",
            c if (c as u32) < 0x20 => o += &format!("\\u{:04x}", c as u32),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn nums(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| opt_num(Some(*x))).collect();
    format!("[{}]", parts.join(","))
}

/// `{"throughput": [...], "memory": [...], "settings": {...}}`; a section not run is null.
pub fn json(rows: Option<&[Row]>, mem: Option<&[Measure]>, settings: &[(&str, String)]) -> String {
    let tp = rows.map(|rows| {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                let per = |f: &dyn Fn(Flavor) -> String| {
                    let parts: Vec<String> = r
                        .servers
                        .iter()
                        .map(|&x| format!("{}:{}", json_str(x.label()), f(x)))
                        .collect();
                    format!("{{{}}}", parts.join(","))
                };
                let samples: Vec<String> = r
                    .servers
                    .iter()
                    .zip(&r.samples)
                    .map(|(f, v)| format!("{}:{}", json_str(f.label()), nums(v)))
                    .collect();
                let samples = format!("{{{}}}", samples.join(","));
                let ratios: Vec<String> = r
                    .servers
                    .iter()
                    .filter(|&&f| f != Flavor::Slotcache)
                    .map(|&f| format!("{}:{}", json_str(f.label()), opt_num(r.ratio(f))))
                    .collect();
                format!(
                    "{{\"test\":{},\"pipeline\":{},\"rps\":{},\"p50_ms\":{},\"p99_ms\":{},\"slotcache_ratio_to\":{{{}}},\"samples\":{},\"note\":{}}}",
                    json_str(&r.test),
                    r.pipeline,
                    per(&|f| opt_num(r.rps(f))),
                    per(&|f| opt_num(r.latency(f).map(|l| l.0))),
                    per(&|f| opt_num(r.latency(f).map(|l| l.1))),
                    ratios.join(","),
                    samples,
                    json_str(&r.note)
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    });
    let mm = mem.map(|m| {
        let items: Vec<String> = m
            .iter()
            .map(|x| {
                format!(
                    "{{\"server\":{},\"keys\":{},\"rss_empty\":{},\"rss_loaded\":{},\"used_memory\":{},\"rss_bytes_per_key\":{},\"load_secs\":{}}}",
                    json_str(x.flavor.label()),
                    x.keys,
                    x.rss_empty,
                    x.rss_loaded,
                    x.used_memory.map(|v| v.to_string()).unwrap_or_else(|| "null".into()),
                    opt_num(Some(x.rss_per_key())),
                    opt_num(Some(x.load_secs))
                )
            })
            .collect();
        format!("[{}]", items.join(","))
    });
    let st: Vec<String> = settings
        .iter()
        .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
        .collect();
    format!(
        "{{\"settings\":{{{}}},\"throughput\":{},\"memory\":{}}}\n",
        st.join(","),
        tp.unwrap_or_else(|| "null".into()),
        mm.unwrap_or_else(|| "null".into())
    )
}
