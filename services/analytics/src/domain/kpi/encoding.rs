//! The stored form of `Facts`: a format byte, the 18 counters as signed varints (most are 0,
//! one byte each), then each duration kind's count, sum and sparse sketch. An hour's facts take
//! some 30–60 bytes instead of the 2 KB their JSON with two dense sketches took.

use super::{Counters, Durations, Facts};
use crate::domain::sketch::Sketch;
use crate::domain::varint::{DecodeError, Reader, put_i64};

/// Bumped if the layout changes, so old bytes are refused rather than misread.
const FORMAT: u8 = 1;

/// The counters in their stored order (append new ones at the end, with a new format).
fn counters_mut(c: &mut Counters) -> [&mut i64; 18] {
    [
        &mut c.reports_received,
        &mut c.praise_received,
        &mut c.complaints_received,
        &mut c.tickets_opened,
        &mut c.tickets_resolved,
        &mut c.tickets_closed,
        &mut c.tickets_cancelled,
        &mut c.tickets_reopened,
        &mut c.resolved_within_sla,
        &mut c.first_assignment_resolutions,
        &mut c.reopened_resolutions,
        &mut c.acknowledge_breaches,
        &mut c.resolve_breaches,
        &mut c.escalations,
        &mut c.ratings_count,
        &mut c.rating_sum,
        &mut c.fixed_yes,
        &mut c.supports,
    ]
}

impl Durations {
    fn encode(&self, out: &mut Vec<u8>) {
        put_i64(out, self.count);
        put_i64(out, self.sum_us);
        self.sketch.encode(out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Durations::from_parts(
            r.i64()?,
            r.i64()?,
            Sketch::decode(r)?,
        ))
    }
}

impl Facts {
    /// The stored bytes; never empty (a claimed row not yet written has empty facts).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT];
        let mut counters = self.counters.clone();
        for value in counters_mut(&mut counters) {
            put_i64(&mut out, *value);
        }
        self.acknowledge.encode(&mut out);
        self.resolve.encode(&mut out);
        out
    }

    /// Reads `encode`'s bytes back; anything else is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        match r.byte()? {
            FORMAT => {}
            other => return Err(DecodeError(format!("unknown facts format {other}"))),
        }
        let mut counters = Counters::default();
        for value in counters_mut(&mut counters) {
            *value = r.i64()?;
        }
        let acknowledge = Durations::decode(&mut r)?;
        let resolve = Durations::decode(&mut r)?;
        r.finish()?;
        Ok(Facts {
            counters,
            acknowledge,
            resolve,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy_hour() -> Facts {
        let mut f = Facts::default();
        f.counters.tickets_opened = 12;
        f.counters.tickets_resolved = 9;
        f.counters.resolved_within_sla = 8;
        f.counters.reopened_resolutions = -1;
        f.counters.rating_sum = 1_000_000;
        for t in 0..9 {
            f.acknowledge.add((600 + 60 * t) * 1_000_000);
            f.resolve.add((4 * 3600 + 300 * t) * 1_000_000);
        }
        f.resolve.add(0);
        f
    }

    #[test]
    fn facts_round_trip() {
        for facts in [Facts::default(), busy_hour()] {
            let bytes = facts.encode();
            assert_eq!(Facts::decode(&bytes).unwrap(), facts);
        }
        assert_eq!(Facts::default().encode().len(), 1 + 18 + 2 * 4);
        assert!(
            busy_hour().encode().len() < 80,
            "{} bytes",
            busy_hour().encode().len()
        );
    }

    #[test]
    fn anything_but_encoded_facts_is_an_error() {
        let good = busy_hour().encode();
        assert!(Facts::decode(&[]).is_err(), "empty");
        assert!(Facts::decode(b"{\"counters\":{}}").is_err(), "JSON");
        assert!(Facts::decode(&[2]).is_err(), "another format");
        let mut longer = good.clone();
        longer.push(0);
        assert!(Facts::decode(&longer).is_err(), "trailing byte");
        for cut in 0..good.len() {
            assert!(Facts::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Every single-byte corruption decodes to something or fails; it never panics.
        for i in 0..good.len() {
            for b in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                if let Ok(f) = Facts::decode(&bad) {
                    let _ = f.kpis(0);
                }
            }
        }
    }
}
