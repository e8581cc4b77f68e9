//! A token bucket per caller (keyed by the token's subject), kept in a bounded map.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept at most; beyond that, full (idle) buckets are dropped first — a full bucket is
/// the same as a fresh one — then the least recently used.
const MAX_SUBJECTS: usize = 10_000;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    capacity: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_second` calls sustained with bursts of up to `burst` (at least one); `None` when
    /// `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        Self::with_capacity(per_second, burst, MAX_SUBJECTS)
    }

    fn with_capacity(per_second: u32, burst: u32, capacity: usize) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            capacity,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one call from `subject`'s bucket; false when it is empty.
    pub fn try_acquire(&self, subject: &str) -> bool {
        self.try_acquire_at(subject, Instant::now())
    }

    fn try_acquire_at(&self, subject: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(subject) && buckets.len() >= self.capacity {
            self.evict(&mut buckets, now);
        }
        let bucket = buckets.entry(subject.to_owned()).or_insert(Bucket { tokens: self.burst, at: now });
        bucket.tokens = self.refilled(bucket, now);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }

    fn evict(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        buckets.retain(|_, b| self.refilled(b, now) < self.burst);
        if buckets.len() >= self.capacity {
            let oldest = buckets.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                buckets.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limiter = RateLimiter::new(2, 3).unwrap();
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.try_acquire_at("a", t0)));
        assert!(!limiter.try_acquire_at("a", t0));
        assert!(limiter.try_acquire_at("b", t0), "callers have their own buckets");
        assert!(limiter.try_acquire_at("a", t0 + Duration::from_millis(500)));
        assert!(!limiter.try_acquire_at("a", t0 + Duration::from_millis(600)));
    }

    #[test]
    fn zero_disables_the_limit() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    #[test]
    fn the_map_stays_bounded() {
        let limiter = RateLimiter::with_capacity(1, 1, 4).unwrap();
        let t0 = Instant::now();
        for i in 0..100 {
            limiter.try_acquire_at(&format!("s{i}"), t0 + Duration::from_millis(i));
        }
        assert!(limiter.len() <= 4);
        // Idle subjects refill and are the first to go, so a busy one keeps its empty bucket.
        let later = t0 + Duration::from_secs(10);
        let busy = RateLimiter::with_capacity(1, 1, 2).unwrap();
        assert!(busy.try_acquire_at("idle", t0));
        assert!(busy.try_acquire_at("busy", later));
        assert!(busy.try_acquire_at("new", later));
        assert!(!busy.try_acquire_at("busy", later), "the busy bucket was kept, still empty");
    }
}
