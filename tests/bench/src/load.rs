//! The open-loop load generator: each step offers a constant arrival rate for a fixed time,
//! whatever the server's answers (a closed loop would slow down with the server and hide its
//! queueing), and summarises what came back.

use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Calls allowed in flight at once; beyond it an arrival is counted as `dropped` (the server
/// is far past saturation and the generator must not eat the machine's memory).
const MAX_IN_FLIGHT: usize = 20_000;

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| ms(samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]);
        Self { count: samples.len(), p50_ms: at(0.50), p90_ms: at(0.90), p99_ms: at(0.99), max_ms: ms(samples[samples.len() - 1]) }
    }
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// What one step of offered load gave back.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub offered_per_s: f64,
    pub seconds: f64,
    pub sent: u64,
    pub ok: u64,
    /// Successful calls per second, over the time from the first call to the last answer.
    pub achieved_per_s: f64,
    /// Failed calls by gRPC status code name ("dropped": not sent, too many in flight).
    pub errors: BTreeMap<String, u64>,
    /// The first message seen for each failing status code: what the server (or the client's
    /// transport) said, so an error count can be traced to its cause.
    pub error_messages: BTreeMap<String, String>,
    pub call: Latency,
}

impl Step {
    /// Saturated: less than 90% of the offered rate went through, or the p99 passed `max_p99`.
    pub fn saturated(&self, max_p99: Duration) -> bool {
        self.achieved_per_s < 0.9 * self.offered_per_s || self.call.p99_ms > ms(max_p99)
    }
}

/// The highest achieved rate of a step that was not saturated.
pub fn sustained(steps: &[Step], max_p99: Duration) -> f64 {
    steps.iter().filter(|s| !s.saturated(max_p99)).map(|s| s.achieved_per_s).fold(0.0, f64::max)
}

/// Offers `rate` calls per second for `duration`; `call(n)` makes the n-th call (n counts from 0
/// within the step) and returns its outcome. Waits for every call to answer.
pub async fn run_step<F, Fut>(rate: f64, duration: Duration, call: F) -> Step
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut calls = tokio::task::JoinSet::new();
    let mut dropped = 0u64;
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        // Arrivals are due at n / rate; send every one whose time has come.
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while sent < due {
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let fut = call(sent);
                    calls.spawn(async move {
                        let began = Instant::now();
                        let outcome = fut.await;
                        drop(permit);
                        (began.elapsed(), outcome, Instant::now())
                    });
                }
                Err(_) => dropped += 1,
            }
            sent += 1;
        }
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = BTreeMap::new();
    let mut error_messages = BTreeMap::new();
    let mut last_answer = start;
    while let Some(joined) = calls.join_next().await {
        let Ok((took, outcome, answered)) = joined else { continue };
        last_answer = last_answer.max(answered);
        match outcome {
            Ok(()) => latencies.push(took),
            Err(status) => {
                let code = format!("{:?}", status.code());
                *errors.entry(code.clone()).or_insert(0) += 1;
                error_messages.entry(code).or_insert_with(|| status.message().to_owned());
            }
        }
    }
    if dropped > 0 {
        errors.insert("dropped".into(), dropped);
    }
    let ok = latencies.len() as u64;
    let window = last_answer.duration_since(start).max(duration).as_secs_f64();
    Step {
        offered_per_s: rate,
        seconds: duration.as_secs_f64(),
        sent,
        ok,
        achieved_per_s: (ok as f64 / window * 10.0).round() / 10.0,
        errors,
        error_messages,
        call: Latency::of(latencies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_sample_at_or_above_the_quantile() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(samples);
        assert_eq!((l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms), (100, 50.0, 90.0, 99.0, 100.0));
        assert_eq!(Latency::of(vec![]).count, 0);
    }

    #[tokio::test]
    async fn a_step_offers_the_rate_and_counts_errors_by_code() {
        let step = run_step(200.0, Duration::from_millis(500), |n| async move {
            if n % 10 == 0 { Err(tonic::Status::unavailable("down for a moment")) } else { Ok(()) }
        })
        .await;
        assert_eq!(step.sent, 100);
        assert_eq!(step.ok, 90);
        assert_eq!(step.errors.get("Unavailable"), Some(&10));
        assert_eq!(step.error_messages.get("Unavailable").map(String::as_str), Some("down for a moment"));
        assert!(step.achieved_per_s > 150.0 && step.achieved_per_s <= 200.0, "{}", step.achieved_per_s);
    }
}
