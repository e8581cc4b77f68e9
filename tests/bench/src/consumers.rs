//! The services' event consumers over the intake run, read from the `/metrics` text each
//! service served after it (`metrics-<service>.txt`): how busy each consumer was and where its
//! batches' time went — the consumer whose busy time nears the run's wall time is the one a
//! backlog waits for.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Per consumer and stream, the sums the metrics carry.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    batches: f64,
    events: f64,
    busy_s: f64,
    phases_s: BTreeMap<String, f64>,
}

/// Every consumer of the services whose metrics files are in `dir`, as JSON rows.
pub fn read(dir: &Path) -> Value {
    let mut rows = Vec::new();
    for service in ["registry", "dispatch", "feedback", "analytics"] {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("metrics-{service}.txt"))) else { continue };
        for ((consumer, stream), t) in parse(&text) {
            let per_batch_ms = |s: f64| if t.batches > 0.0 { round(1000.0 * s / t.batches) } else { 0.0 };
            rows.push(json!({
                "service": service,
                "consumer": consumer,
                "stream": stream,
                "batches": t.batches,
                "events": t.events,
                "busy_s": round(t.busy_s),
                "batch_ms": per_batch_ms(t.busy_s),
                "phase_ms": t.phases_s.iter().map(|(p, s)| (p.clone(), json!(per_batch_ms(*s)))).collect::<serde_json::Map<_, _>>(),
                "events_per_busy_s": if t.busy_s > 0.0 { (t.events / t.busy_s).round() } else { 0.0 },
            }));
        }
    }
    Value::Array(rows)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The totals of each consumer and stream in one Prometheus text exposition.
fn parse(text: &str) -> BTreeMap<(String, String), Totals> {
    let mut totals: BTreeMap<(String, String), Totals> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let (Some(consumer), Some(stream)) = (label(labels, "consumer"), label(labels, "stream")) else { continue };
        let t = totals.entry((consumer.to_owned(), stream.to_owned())).or_default();
        match name {
            "flywheel_consumer_batch_seconds_count" => t.batches += value,
            "flywheel_consumer_batch_events_sum" => t.events += value,
            "flywheel_consumer_batch_seconds_sum" => t.busy_s += value,
            "flywheel_consumer_phase_seconds_sum" => {
                if let Some(phase) = label(labels, "phase") {
                    *t.phases_s.entry(phase.to_owned()).or_default() += value;
                }
            }
            _ => {}
        }
    }
    totals.retain(|_, t| t.batches > 0.0);
    totals
}

/// The value of label `key` in `a="x",b="y"}`.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_come_from_the_sums_and_counts_of_each_consumer() {
        let text = r#"# TYPE flywheel_consumer_batch_seconds histogram
flywheel_consumer_batch_seconds_bucket{consumer="dispatch",stream="FLYWHEEL_FEEDBACK",le="0.1"} 3
flywheel_consumer_batch_seconds_sum{consumer="dispatch",stream="FLYWHEEL_FEEDBACK"} 2.5
flywheel_consumer_batch_seconds_count{consumer="dispatch",stream="FLYWHEEL_FEEDBACK"} 10
flywheel_consumer_batch_events_sum{consumer="dispatch",stream="FLYWHEEL_FEEDBACK"} 2000
flywheel_consumer_phase_seconds_sum{consumer="dispatch",stream="FLYWHEEL_FEEDBACK",phase="commit"} 0.5
flywheel_consumer_phase_seconds_sum{consumer="dispatch",stream="FLYWHEEL_FEEDBACK",phase="handle"} 1.5
flywheel_consumer_batch_seconds_count{consumer="dispatch",stream="FLYWHEEL_REGISTRY"} 4
flywheel_consumer_phase_seconds_sum{consumer="dispatch",stream="FLYWHEEL_REGISTRY",phase="handle"} 0.25
flywheel_consumer_batch_seconds_count{consumer="idle",stream="FLYWHEEL_REGISTRY"} 0
flywheel_consumer_pending{consumer="dispatch"} 7
"#;
        let totals = parse(text);
        let key = |c: &str, s: &str| (c.to_owned(), s.to_owned());
        let keys: Vec<_> = totals.keys().cloned().collect();
        assert_eq!(keys, [key("dispatch", "FLYWHEEL_FEEDBACK"), key("dispatch", "FLYWHEEL_REGISTRY")], "a consumer without batches is left out");
        let t = &totals[&key("dispatch", "FLYWHEEL_FEEDBACK")];
        assert_eq!((t.batches, t.events, t.busy_s), (10.0, 2000.0, 2.5));
        assert_eq!(t.phases_s["commit"], 0.5);
        assert_eq!(t.phases_s["handle"], 1.5);
        assert_eq!(totals[&key("dispatch", "FLYWHEEL_REGISTRY")].phases_s["handle"], 0.25, "each stream's phases apart");
    }
}
