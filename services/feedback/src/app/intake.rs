//! Group commit of SubmitReport: concurrent calls wait in one queue, and filing tasks take
//! everything queued and file it in one transaction (`submit::file_all`), so a busy intake costs
//! a handful of statements per batch instead of per report. An idle intake files each call at
//! once, alone: nothing waits for a batch to fill.
//!
//! A batch starts when no other is being filed, or when a full batch waits. While one
//! transaction keeps up, the calls that arrive during it are the next batch — the fewest
//! transactions, so the least CPU, a report; an idle filing task woken by every call would file
//! them one or two at a time (docs/performance.md, "Sixteenth round"). Beyond what one keeps up
//! with, up to [`FILERS`] transactions run at once.

use super::Feedback;
use super::submit::{Outcome, Submission};
use flywheel_runtime::{Error, Result, idempotency};
use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{Notify, oneshot};

/// Filing tasks: under a backlog, while one batch waits on the database others are filed.
const FILERS: usize = 4;
/// Filings per batch: bounds a transaction's statements and bound parameters.
const MAX_BATCH: usize = 64;

/// What a call gets back: the report as filed, or for a retry of a filed request, its id.
pub(super) enum Filed {
    Report(Box<flywheel_proto::flywheel::feedback::v1::Report>),
    Earlier(String),
}

pub(super) struct Queued {
    pub submission: Submission,
    reply: oneshot::Sender<Result<Filed>>,
    queued_at: Instant,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Queued>,
    /// Batches being filed.
    filing: usize,
}

impl Queue {
    /// Whether a batch may start now.
    fn ready(&self) -> bool {
        !self.waiting.is_empty() && (self.filing == 0 || self.waiting.len() >= MAX_BATCH)
    }
}

#[derive(Default)]
pub(super) struct Intake {
    queue: Mutex<Queue>,
    /// Wakes a filing task: a batch may be ready.
    ready: Notify,
    /// The filing tasks, started by the first call (they need the runtime that serves it).
    filers: OnceLock<()>,
}

impl Intake {
    /// Queues `submission` and waits until a filing task has filed it.
    pub(super) async fn file(&self, feedback: &Feedback, submission: Submission) -> Result<Filed> {
        self.filers.get_or_init(|| {
            for _ in 0..FILERS {
                tokio::spawn(feedback.clone().file_queued());
            }
        });
        let (reply, filed) = oneshot::channel();
        let ready = {
            let mut queue = self.lock();
            queue.waiting.push_back(Queued { submission, reply, queued_at: Instant::now() });
            queue.ready()
        };
        if ready {
            self.ready.notify_one();
        }
        filed.await.unwrap_or_else(|_| Err(Error::Internal(anyhow::anyhow!("a report's filing ended without an answer"))))
    }

    /// Everything queued, up to a batch, once a batch may start; [`Intake::filed`] must follow.
    async fn next_batch(&self) -> Vec<Queued> {
        loop {
            {
                let mut queue = self.lock();
                if queue.ready() {
                    let n = queue.waiting.len().min(MAX_BATCH);
                    let batch: Vec<Queued> = queue.waiting.drain(..n).collect();
                    queue.filing += 1;
                    if queue.ready() {
                        // A full batch more: another filing task takes it.
                        self.ready.notify_one();
                    }
                    return batch;
                }
            }
            self.ready.notified().await;
        }
    }

    /// A batch is filed: what arrived meanwhile may start.
    fn filed(&self) {
        let ready = {
            let mut queue = self.lock();
            queue.filing -= 1;
            queue.ready()
        };
        if ready {
            self.ready.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Feedback {
    /// A filing task: files the queued batches for as long as the runtime runs.
    async fn file_queued(self) {
        loop {
            let batch = self.intake.next_batch().await;
            // Recorded here, not under the queue's lock that every call takes.
            let waited = metrics::histogram!("flywheel_feedback_filing_wait_seconds");
            batch.iter().for_each(|q| waited.record(q.queued_at.elapsed().as_secs_f64()));
            let feedback = self.clone();
            // A panic while filing answers that batch's calls with INTERNAL (their replies are
            // dropped) and leaves this task filing the next.
            let _ = tokio::spawn(async move { feedback.file_batch(batch).await }).await;
            self.intake.filed();
        }
    }

    /// Files `batch` in as few transactions as it takes: those that must wait for the others'
    /// commit go in a next round, and when a transaction fails each of its filings is tried
    /// again alone, so one filing's failure is never another's.
    async fn file_batch(&self, batch: Vec<Queued>) {
        let mut rounds = VecDeque::from([batch]);
        while let Some(round) = rounds.pop_front() {
            let submissions: Vec<&Submission> = round.iter().map(|q| &q.submission).collect();
            let started = Instant::now();
            let result = self.writer.write(async |txn| self.file_all(txn, &submissions).await).await;
            metrics::histogram!("flywheel_feedback_filing_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("flywheel_feedback_filing_reports").record(submissions.len() as f64);
            match result {
                Ok(outcomes) => {
                    let mut later = Vec::new();
                    for (queued, outcome) in round.into_iter().zip(outcomes) {
                        let answer = match outcome {
                            Outcome::Filed(report) => Ok(Filed::Report(report)),
                            Outcome::Earlier(id) => Ok(Filed::Earlier(id)),
                            Outcome::Refused(err) => Err(err),
                            Outcome::Later => {
                                later.push(queued);
                                continue;
                            }
                        };
                        let _ = queued.reply.send(answer);
                    }
                    if !later.is_empty() {
                        rounds.push_back(later);
                    }
                }
                Err(_) if round.len() > 1 => rounds.extend(round.into_iter().map(|q| vec![q])),
                Err(err) => {
                    let queued = round.into_iter().next().expect("a round has a filing");
                    let answer = self.filed_by_a_concurrent_retry(&queued.submission, err).await;
                    let _ = queued.reply.send(answer);
                }
            }
        }
    }

    /// A filing failed: a concurrent retry with the same request id may have committed first.
    async fn filed_by_a_concurrent_retry(&self, s: &Submission, err: Error) -> Result<Filed> {
        if s.request_id.is_empty() {
            return Err(err);
        }
        match idempotency::lookup(self.db(), &s.scope, &s.request_id).await? {
            Some(id) => Ok(Filed::Earlier(id)),
            None => Err(err),
        }
    }
}
