//! Tables for people and JSON for tools (written by hand: the format is small and fixed).

use crate::memory::Measure;
use crate::procs::Flavor;
use crate::throughput::Row;

fn rps(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into())
}

pub fn throughput_table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<12} {:>8} {:>14} {:>14} {:>16}\n",
        "test", "pipeline", "slotcache rps", "redis rps", "slotcache/redis"
    );
    for r in rows {
        let ratio = r
            .ratio()
            .map(|x| format!("{x:.2}"))
            .unwrap_or_else(|| "-".into());
        s += &format!(
            "{:<12} {:>8} {:>14} {:>14} {:>16}",
            r.test.to_ascii_uppercase(),
            r.pipeline,
            rps(r.slotcache),
            rps(r.redis),
            ratio
        );
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
    if let (Some(a), Some(b)) = (find(m, Flavor::Slotcache), find(m, Flavor::Redis)) {
        s += &format!(
            "slotcache/redis bytes per key (RSS): {:.2}\n",
            a.rss_per_key() / b.rss_per_key()
        );
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
                format!(
                    "{{\"test\":{},\"pipeline\":{},\"slotcache_rps\":{},\"redis_rps\":{},\"ratio\":{},\"samples_slotcache\":{},\"samples_redis\":{},\"note\":{}}}",
                    json_str(&r.test),
                    r.pipeline,
                    opt_num(r.slotcache),
                    opt_num(r.redis),
                    opt_num(r.ratio()),
                    nums(&r.samples_slotcache),
                    nums(&r.samples_redis),
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
