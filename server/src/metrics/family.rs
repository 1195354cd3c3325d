//! Building Prometheus metric families from numbers read at scrape time.
//!
//! The exporter owns no metric objects: every value already lives in the counters INFO
//! reads (telemetry, stats, the keyspace, the cluster state), so a scrape copies them into
//! families here and the `prometheus` crate's text encoder writes the classic text format
//! (version 0.0.4), which promtool and every Prometheus accept.

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use std::collections::HashMap;

/// Families in the order they were first named, each with its samples.
#[derive(Default)]
pub struct Families {
    list: Vec<MetricFamily>,
    index: HashMap<&'static str, usize>,
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = LabelPair::default();
            l.set_name(k.to_string());
            l.set_value(v.to_string());
            l
        })
        .collect()
}

impl Families {
    fn family(&mut self, name: &'static str, help: &str, kind: MetricType) -> &mut MetricFamily {
        let i = *self.index.entry(name).or_insert_with(|| {
            let mut f = MetricFamily::default();
            f.set_name(name.to_string());
            f.set_help(help.to_string());
            f.set_field_type(kind);
            self.list.push(f);
            self.list.len() - 1
        });
        &mut self.list[i]
    }

    /// A value that goes up and down. `name` is a full metric name.
    pub fn gauge(&mut self, name: &'static str, help: &str, l: &[(&str, &str)], v: f64) {
        let mut g = Gauge::default();
        g.set_value(v);
        let mut m = Metric::default();
        m.set_label(labels(l));
        m.set_gauge(g);
        self.family(name, help, MetricType::GAUGE)
            .mut_metric()
            .push(m);
    }

    /// A count that only grows (until the node restarts or CONFIG RESETSTAT); `name` ends
    /// in `_total`, as the classic format writes counters.
    pub fn counter(&mut self, name: &'static str, help: &str, l: &[(&str, &str)], v: f64) {
        debug_assert!(name.ends_with("_total"), "{name}");
        let mut c = Counter::default();
        c.set_value(v);
        let mut m = Metric::default();
        m.set_label(labels(l));
        m.set_counter(c);
        self.family(name, help, MetricType::COUNTER)
            .mut_metric()
            .push(m);
    }

    /// A histogram: `cumulative[i]` values at or below `bounds[i]` (seconds), `count` in
    /// all (the `+Inf` bucket), `sum` their total in seconds.
    #[allow(clippy::too_many_arguments)]
    pub fn histogram(
        &mut self,
        name: &'static str,
        help: &str,
        l: &[(&str, &str)],
        bounds: &[f64],
        cumulative: &[u64],
        count: u64,
        sum: f64,
    ) {
        let mut h = Histogram::default();
        h.set_sample_count(count);
        h.set_sample_sum(sum);
        h.set_bucket(
            bounds
                .iter()
                .zip(cumulative)
                .map(|(&b, &c)| {
                    let mut bucket = Bucket::default();
                    bucket.set_upper_bound(b);
                    bucket.set_cumulative_count(c.min(count));
                    bucket
                })
                .collect(),
        );
        let mut m = Metric::default();
        m.set_label(labels(l));
        m.set_histogram(h);
        self.family(name, help, MetricType::HISTOGRAM)
            .mut_metric()
            .push(m);
    }

    /// The text exposition of every family that has samples.
    pub fn encode(self) -> Vec<u8> {
        use prometheus::Encoder as _;
        let families: Vec<MetricFamily> = self
            .list
            .into_iter()
            .filter(|f| !f.get_metric().is_empty())
            .collect();
        let mut out = Vec::new();
        if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!("metrics encoding failed: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_text_format() {
        let mut f = Families::default();
        f.counter("x_total", "Xs.", &[("command", "get")], 3.0);
        f.counter("x_total", "Xs.", &[("command", "set")], 1.0);
        f.gauge("y", "Y.", &[], 2.5);
        f.histogram("z_seconds", "Z.", &[], &[0.1, 1.0], &[1, 2], 3, 4.5);
        let text = String::from_utf8(f.encode()).unwrap();
        assert!(text.contains("# TYPE x_total counter\nx_total{command=\"get\"} 3\n"));
        assert!(text.contains("# TYPE y gauge\ny 2.5\n"));
        assert!(text.contains("z_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(!text.contains("# EOF"));
    }
}
