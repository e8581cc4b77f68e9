//! A DDSketch of non-negative values with 1% relative accuracy, keeping only its non-empty bins.
//!
//! Value v > 0 goes to bin key ⌈ln v / ln γ⌉ with γ = (1 + α)/(1 − α), α = 0.01, and a bin reads
//! back as 2γ^key/(1 + γ), within α of every value in it. The mapping, the zero threshold and
//! the quantile's rank are those of `sketches-ddsketch` 0.3 with its default configuration,
//! which the projections used before: its stored bins convert one to one, and p50 and p90 come
//! out the same. An hour's sketch holds a few bins, so they are a sorted list rather than the
//! dense 128-bin array that library keeps.

use super::varint::{DecodeError, Reader, put_i64, put_u64};
use std::cmp::Ordering;

const RELATIVE_ACCURACY: f64 = 0.01;
/// Values at or below this count as zero (durations are whole microseconds, so only 0 does).
const MIN_VALUE: f64 = 1.0e-9;

fn gamma() -> f64 {
    1.0 + 2.0 * RELATIVE_ACCURACY / (1.0 - RELATIVE_ACCURACY)
}

/// ln γ, computed as the previous library did so keys match it bit for bit.
fn gamma_ln() -> f64 {
    (2.0 * RELATIVE_ACCURACY / (1.0 - RELATIVE_ACCURACY)).ln_1p()
}

fn key_of(value: f64) -> i32 {
    (value.ln() / gamma_ln()).ceil() as i32
}

fn value_of(key: i32) -> f64 {
    (f64::from(key) * gamma_ln()).exp() * (2.0 / (1.0 + gamma()))
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sketch {
    zero_count: u64,
    /// (key, count) in increasing key order, every count above 0.
    bins: Vec<(i32, u64)>,
}

impl Sketch {
    /// A sketch from its zero count and bins in increasing key order (bins counting 0 are left
    /// out); keys out of order are an error.
    pub fn from_bins(
        zero_count: u64,
        bins: impl IntoIterator<Item = (i32, u64)>,
    ) -> Result<Self, DecodeError> {
        let mut sketch = Sketch {
            zero_count,
            bins: Vec::new(),
        };
        for (key, count) in bins {
            if sketch.bins.last().is_some_and(|&(last, _)| last >= key) {
                return Err(DecodeError(format!("sketch bin {key} out of order")));
            }
            if count > 0 {
                sketch.bins.push((key, count));
            }
        }
        Ok(sketch)
    }

    pub fn add(&mut self, value: f64) {
        if value.is_nan() || value <= MIN_VALUE {
            self.zero_count += 1;
            return;
        }
        let key = key_of(value);
        match self.bins.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) => self.bins[i].1 += 1,
            Err(i) => self.bins.insert(i, (key, 1)),
        }
    }

    /// Adds `other`'s bins to these: the sketch of both sets of values.
    pub fn merge(&mut self, other: &Sketch) {
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        if other.bins.is_empty() {
            return;
        }
        let (mine, theirs) = (&self.bins, &other.bins);
        let mut merged = Vec::with_capacity(mine.len() + theirs.len());
        let (mut i, mut j) = (0, 0);
        while let (Some(&(a, n)), Some(&(b, m))) = (mine.get(i), theirs.get(j)) {
            match a.cmp(&b) {
                Ordering::Equal => {
                    merged.push((a, n.saturating_add(m)));
                    i += 1;
                    j += 1;
                }
                Ordering::Less => {
                    merged.push((a, n));
                    i += 1;
                }
                Ordering::Greater => {
                    merged.push((b, m));
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&mine[i..]);
        merged.extend_from_slice(&theirs[j..]);
        self.bins = merged;
    }

    pub fn count(&self) -> u64 {
        self.bins
            .iter()
            .fold(self.zero_count, |n, &(_, c)| n.saturating_add(c))
    }

    /// The value at quantile `q` (0 ≤ q ≤ 1) within 1%: the rank ⌊q·(count − 1)⌋ value's bin;
    /// `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (count - 1) as f64) as u64;
        if rank < self.zero_count {
            return Some(0.0);
        }
        let rank = rank - self.zero_count;
        let mut seen = 0u64;
        for &(key, n) in &self.bins {
            seen = seen.saturating_add(n);
            if seen > rank {
                return Some(value_of(key));
            }
        }
        self.bins.last().map(|&(key, _)| value_of(key))
    }

    /// Appends the sketch: zero count, number of bins, then per bin the key (the first as a
    /// signed varint, the others as the step from the previous key) and its count.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.zero_count);
        put_u64(out, self.bins.len() as u64);
        let mut previous = None;
        for &(key, count) in &self.bins {
            match previous {
                None => put_i64(out, i64::from(key)),
                Some(p) => put_u64(out, (i64::from(key) - i64::from(p)) as u64),
            }
            put_u64(out, count);
            previous = Some(key);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let zero_count = r.u64()?;
        let bins = r.u64()?;
        // Every bin takes at least two bytes: a longer list cannot be there.
        if bins > (r.remaining() / 2) as u64 {
            return Err(DecodeError(format!(
                "sketch claims {bins} bins in {} bytes",
                r.remaining()
            )));
        }
        let mut list = Vec::with_capacity(bins as usize);
        let mut key = 0i64;
        for i in 0..bins {
            key = if i == 0 {
                r.i64()?
            } else {
                key.saturating_add(i64::try_from(r.u64()?).unwrap_or(i64::MAX))
            };
            let key = i32::try_from(key)
                .map_err(|_| DecodeError(format!("sketch key {key} out of range")))?;
            let count = r.u64()?;
            if count == 0 {
                return Err(DecodeError(format!("sketch bin {key} is empty")));
            }
            list.push((key, count));
        }
        Sketch::from_bins(zero_count, list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(values: &[f64]) -> Sketch {
        let mut s = Sketch::default();
        values.iter().for_each(|&v| s.add(v));
        s
    }

    /// The exact value at the rank the sketch uses.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64) as usize]
    }

    /// Deterministic pseudo-random values in [0, 1).
    fn uniform(seed: u64, n: usize) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn quantiles_are_within_one_percent_of_the_exact_values() {
        let distributions: [(&str, Vec<f64>); 4] = [
            (
                "minutes 1..=100",
                (1..=100).map(|m| f64::from(m) * 60.0).collect(),
            ),
            ("uniform 0..1 s", uniform(1, 5_000)),
            (
                "log-uniform 1 µs .. 10 days",
                uniform(2, 5_000)
                    .into_iter()
                    .map(|u| 1e-6 * (u * 27.5).exp())
                    .collect(),
            ),
            ("one value", vec![4.0 * 3600.0; 7]),
        ];
        for (name, mut values) in distributions {
            let s = sketch_of(&values);
            values.sort_by(f64::total_cmp);
            for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
                let (got, want) = (s.quantile(q).unwrap(), exact(&values, q));
                assert!(
                    (got - want).abs() <= want * RELATIVE_ACCURACY,
                    "{name} q{q}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn zeros_and_empty() {
        assert_eq!(Sketch::default().quantile(0.5), None);
        let s = sketch_of(&[0.0, 0.0, 0.0, 10.0]);
        assert_eq!(s.count(), 4);
        assert_eq!(s.quantile(0.5), Some(0.0));
        assert!((s.quantile(1.0).unwrap() - 10.0).abs() <= 0.1);
    }

    #[test]
    fn merge_equals_adding_every_value_to_one_sketch() {
        let values: Vec<f64> = uniform(3, 2_000)
            .into_iter()
            .map(|u| if u < 0.05 { 0.0 } else { u * 86_400.0 })
            .collect();
        let whole = sketch_of(&values);
        for parts in [1, 2, 7, 100] {
            let mut merged = Sketch::default();
            for chunk in values.chunks(values.len().div_ceil(parts)) {
                merged.merge(&sketch_of(chunk));
            }
            assert_eq!(merged, whole, "{parts} parts");
        }
        let mut other_order = sketch_of(&values[1_000..]);
        other_order.merge(&sketch_of(&values[..1_000]));
        assert_eq!(other_order, whole);
    }

    #[test]
    fn the_previous_library_gives_the_same_answers() {
        use sketches_ddsketch::{Config, DDSketch};
        let values: Vec<f64> = uniform(4, 3_000)
            .into_iter()
            .map(|u| (u * 20.0).exp() * 1e-3)
            .collect();
        for n in [1, 2, 3, 10, 101, 3_000] {
            let mut old = DDSketch::new(Config::defaults());
            values[..n].iter().for_each(|&v| old.add(v));
            let new = sketch_of(&values[..n]);
            for q in [0.1, 0.5, 0.9, 0.99] {
                assert_eq!(
                    new.quantile(q),
                    old.quantile(q).unwrap(),
                    "{n} values, q{q}"
                );
            }
        }
    }

    #[test]
    fn encoding_round_trips_and_stays_small() {
        let s = sketch_of(&[0.0, 60.0, 61.0, 3600.0, 3600.5, 1e-6, 1e7]);
        let mut out = Vec::new();
        s.encode(&mut out);
        let mut r = Reader::new(&out);
        assert_eq!(Sketch::decode(&mut r).unwrap(), s);
        r.finish().unwrap();
        assert!(out.len() <= 2 + 3 + 6 * 3, "{} bytes", out.len());
    }

    #[test]
    fn garbage_is_an_error_or_a_valid_sketch_never_a_panic() {
        let bad: [&[u8]; 6] = [
            &[],
            &[0, 5, 2, 1],                            // five bins claimed, one there
            &[0, 2, 2, 1, 0, 1],                      // second key not after the first
            &[0, 1, 2, 0],                            // an empty bin
            &[0, 1, 0xfe, 0xff, 0xff, 0xff, 0x7f, 1], // key beyond i32
            &[0, 1, 2],                               // truncated
        ];
        for bytes in bad {
            assert!(
                Sketch::decode(&mut Reader::new(bytes)).is_err(),
                "{bytes:?}"
            );
        }
        for (i, u) in uniform(5, 2_000).into_iter().enumerate() {
            let bytes: Vec<u8> = uniform(i as u64, (u * 40.0) as usize)
                .into_iter()
                .map(|b| (b * 256.0) as u8)
                .collect();
            if let Ok(s) = Sketch::decode(&mut Reader::new(&bytes)) {
                let _ = s.quantile(0.9);
            }
        }
    }
}
