//! Facts as they were stored before `m0104_analytics_compact_facts`: JSON of the old `Facts`,
//! each duration kind's sketch a serialised `sketches-ddsketch` 0.3 DDSketch (two dense
//! stores of bins, min, max, sum, zero count), or null while empty. Only what the answers
//! used is read: the counters, count and sum, the zero count and the positive store's bins.

use crate::domain::kpi::{Counters, Durations, Facts};
use crate::domain::sketch::Sketch;
use crate::domain::varint::DecodeError;
use serde::Deserialize;

#[derive(Default, Deserialize)]
#[serde(default)]
struct LegacyFacts {
    counters: Counters,
    acknowledge: LegacyDurations,
    resolve: LegacyDurations,
}

#[derive(Default, Deserialize)]
struct LegacyDurations {
    count: i64,
    sum_us: i64,
    sketch: Option<LegacySketch>,
}

#[derive(Deserialize)]
struct LegacySketch {
    store: LegacyStore,
    negative_store: LegacyStore,
    zero_count: u64,
}

/// A dense store: bin i holds key `offset + i`.
#[derive(Deserialize)]
struct LegacyStore {
    bins: Vec<u64>,
    offset: i32,
    count: u64,
}

impl LegacySketch {
    /// The same bins, sparse. The key mapping is the same, so every quantile is too.
    fn convert(self) -> Result<Sketch, DecodeError> {
        // Durations are clamped at 0 before they are added: a negative one is not ours.
        if self.negative_store.count > 0 {
            return Err(DecodeError("sketch holds negative durations".into()));
        }
        let offset = self.store.offset;
        let bins = self.store.bins.into_iter().enumerate().map(|(i, count)| {
            let key = i32::try_from(i).ok().and_then(|i| offset.checked_add(i));
            key.map(|key| (key, count))
                .ok_or_else(|| DecodeError("sketch bin key out of range".into()))
        });
        Sketch::from_bins(self.zero_count, bins.collect::<Result<Vec<_>, _>>()?)
    }
}

impl LegacyDurations {
    fn convert(self) -> Result<Durations, DecodeError> {
        let sketch = self
            .sketch
            .map(LegacySketch::convert)
            .transpose()?
            .unwrap_or_default();
        Ok(Durations::from_parts(self.count, self.sum_us, sketch))
    }
}

/// Reads facts stored as JSON.
pub fn from_json(json: &str) -> Result<Facts, DecodeError> {
    let legacy: LegacyFacts =
        serde_json::from_str(json).map_err(|e| DecodeError(format!("JSON facts: {e}")))?;
    Ok(Facts {
        counters: legacy.counters,
        acknowledge: legacy.acknowledge.convert()?,
        resolve: legacy.resolve.convert()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sketches_ddsketch::{Config, DDSketch};

    #[test]
    fn json_facts_convert_to_the_same_answers() {
        let mut old = DDSketch::new(Config::defaults());
        let mut new = Facts::default();
        for s in [0, 45, 300, 301, 7_200, 90_000] {
            old.add(s as f64);
            new.resolve.add(s * 1_000_000);
        }
        let json = serde_json::json!({
            "counters": { "tickets_opened": 3, "tickets_resolved": 6 },
            "acknowledge": { "count": 0, "sum_us": 0, "sketch": null },
            "resolve": { "count": 6, "sum_us": new.resolve.sum_us, "sketch": serde_json::to_value(&old).unwrap() },
        });
        let converted = from_json(&json.to_string()).unwrap();
        new.counters.tickets_opened = 3;
        new.counters.tickets_resolved = 6;
        assert_eq!(converted, new);
        let p = converted.kpis(0).resolve.1.unwrap();
        assert_eq!(
            (Some(p.p50_s), Some(p.p90_s)),
            (old.quantile(0.5).unwrap(), old.quantile(0.9).unwrap())
        );
    }

    #[test]
    fn missing_parts_default_and_bad_json_is_an_error() {
        assert_eq!(from_json("{}").unwrap(), Facts::default());
        assert!(from_json("").is_err());
        assert!(
            from_json("{\"resolve\": {\"count\": 1}}").is_err(),
            "sum_us was always written"
        );
        assert!(from_json("[1, 2]").is_err());
    }
}
