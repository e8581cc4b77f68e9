//! The events dispatch consumes: the registry's (its replica of regions, sites, zones, assets and
//! categories) and feedback's (reports that need field work, reopen requests).

use crate::app::Dispatch;
use crate::store::{self, Kind};
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::events::consumer::{BatchFailure, ConsumerSpec, EventHandler, HandlerError};
use flywheel_runtime::events::{outbox, subscriptions, IncomingEvent, OutgoingEvent};
use flywheel_runtime::{Config, Error};
use prost::Message;
use sea_orm::DatabaseTransaction;

pub fn registry_spec(config: &Config) -> ConsumerSpec {
    subscriptions::DISPATCH_FROM_REGISTRY.consumer(config)
}

pub fn feedback_spec(config: &Config) -> ConsumerSpec {
    subscriptions::DISPATCH_FROM_FEEDBACK.consumer(config)
}

fn internal(e: Error) -> HandlerError {
    match e {
        // The replica may still lag behind the registry's events, or another replica changed the
        // same rows first (a stale version, a ticket it created a moment ago): try again later,
        // when the inbox or the fresh state decides.
        Error::NotFound { .. }
        | Error::Aborted { .. }
        | Error::AlreadyExists { .. }
        | Error::Unavailable(_)
        | Error::Internal(_) => HandlerError::Transient(e.into()),
        other => HandlerError::Permanent(other.into()),
    }
}

/// Keeps the registry replica.
pub struct RegistryReplica {
    pub dispatch: Dispatch,
}

#[async_trait::async_trait]
impl EventHandler for RegistryReplica {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        let Some(name) = event.subject.strip_prefix("flywheel.registry.") else { return Ok(()) };
        let (kind, (id, status, version, body)) = match name {
            "region.created" | "region.updated" | "region.retired" => (Kind::Region, region(name, event)?),
            "site.registered" | "site.updated" | "site.retired" => (Kind::Site, site(name, event)?),
            "zone.created" | "zone.updated" | "zone.retired" => (Kind::Zone, zone(name, event)?),
            "asset.registered" | "asset.updated" | "asset.retired" => (Kind::Asset, asset(name, event)?),
            "category.defined" | "category.changed" | "category.retired" => (Kind::Category, category(name, event)?),
            _ => return Ok(()),
        };
        if id.is_empty() {
            return Err(HandlerError::Permanent(anyhow::anyhow!("{} event without an id", kind.as_str())));
        }
        store::put_replica(txn, kind, &id, status, version, body).await.map_err(internal)?;
        Ok(())
    }

    fn committed(&self) {
        // New sites and regions may bring coverage that unassignable tickets were waiting for.
        self.dispatch.retry.notify_one();
    }
}

/// A replicated resource: id, status, version and the message.
type Replicated = (String, i32, i64, Vec<u8>);

/// Decodes the resource a registry event carries, by the event's name.
macro_rules! resource {
    ($name:ident, $ty:ident, $field:ident, $created:literal => $c:ident, $updated:literal => $u:ident, $retired:ident) => {
        fn $name(name: &str, e: &IncomingEvent) -> Result<Replicated, HandlerError> {
            let r: registry::$ty = match name {
                $created => e.decode::<registry::$c>()?.$field,
                $updated => e.decode::<registry::$u>()?.$field,
                _ => e.decode::<registry::$retired>()?.$field,
            }
            .unwrap_or_default();
            Ok((r.id.clone(), r.status, r.version, r.encode_to_vec()))
        }
    };
}

resource!(region, Region, region, "region.created" => RegionCreated, "region.updated" => RegionUpdated, RegionRetired);
resource!(site, Site, site, "site.registered" => SiteRegistered, "site.updated" => SiteUpdated, SiteRetired);
resource!(zone, Zone, zone, "zone.created" => ZoneCreated, "zone.updated" => ZoneUpdated, ZoneRetired);
resource!(asset, Asset, asset, "asset.registered" => AssetRegistered, "asset.updated" => AssetUpdated, AssetRetired);
resource!(category, Category, category, "category.defined" => CategoryDefined, "category.changed" => CategoryChanged, CategoryRetired);

/// Turns feedback's reports into tickets and reopen requests into reopens.
pub struct FeedbackIntake {
    pub dispatch: Dispatch,
}

/// Reports whose events ask for a ticket: a new report, or one classified after submission.
fn asks_for_ticket(subject: &str) -> bool {
    matches!(subject, "flywheel.feedback.report.submitted" | "flywheel.feedback.report.classified")
}

/// Feedback's events that change a ticket (see `FeedbackIntake::follow`); the others (a status
/// change feedback derived from a ticket, a report linked as a duplicate) change nothing here.
fn changes_a_ticket(subject: &str) -> bool {
    matches!(
        subject,
        "flywheel.feedback.report.supported" | "flywheel.feedback.report.rated" | "flywheel.feedback.report.reopen_requested"
    )
}

fn report_of(event: &IncomingEvent) -> Result<feedback::Report, HandlerError> {
    let report = match event.subject.as_str() {
        "flywheel.feedback.report.submitted" => event.decode::<feedback::ReportSubmitted>()?.report,
        _ => event.decode::<feedback::ReportClassified>()?.report,
    };
    Ok(report.unwrap_or_default())
}

impl FeedbackIntake {
    /// Applies an event that changes a ticket (`changes_a_ticket`); returns the events to publish.
    async fn follow(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<Vec<OutgoingEvent>, HandlerError> {
        Ok(match event.subject.as_str() {
            "flywheel.feedback.report.supported" => {
                let m = event.decode::<feedback::ReportSupported>()?;
                let report = m.report.unwrap_or_default();
                self.dispatch.note_support(txn, &report.id, m.support_count).await.map_err(internal)?;
                Vec::new()
            }
            "flywheel.feedback.report.rated" => {
                let m = event.decode::<feedback::ReportRated>()?;
                if m.reopen_requested {
                    Vec::new()
                } else {
                    self.dispatch.close_for_rating(txn, &m.ticket_id, m.rating).await.map_err(internal)?
                }
            }
            "flywheel.feedback.report.reopen_requested" => {
                let m = event.decode::<feedback::ReportReopenRequested>()?;
                let report = m.report.unwrap_or_default();
                let note = format!("resident rated {} (survey round {})", m.rating, m.survey_round);
                self.dispatch.reopen_for_report(txn, &m.ticket_id, &report.id, &note).await.map_err(internal)?
            }
            _ => Vec::new(),
        })
    }
}

#[async_trait::async_trait]
impl EventHandler for FeedbackIntake {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        self.handle_batch(txn, &[event]).await.map_err(|failure| failure.error)
    }

    /// Runs of reports asking for tickets are created together; events that change a ticket are
    /// applied one by one between them, so each report's events keep their order. Events that
    /// change nothing here do not end a run: feedback answers every new ticket with a status
    /// change, which would otherwise cut a backlog into runs of one report.
    async fn handle_batch(&self, txn: &DatabaseTransaction, events: &[&IncomingEvent]) -> Result<(), BatchFailure> {
        let mut publish = Vec::new();
        let mut at = 0;
        while at < events.len() {
            let run = events[at..].iter().take_while(|e| !changes_a_ticket(&e.subject)).count();
            if run == 0 {
                let out = self.follow(txn, events[at]).await.map_err(|error| BatchFailure { at: Some(at), error })?;
                publish.extend(out);
                at += 1;
                continue;
            }
            // The run's reports, with where each sits in the batch.
            let mut reports = Vec::with_capacity(run);
            let mut positions = Vec::with_capacity(run);
            for (i, event) in events[at..at + run].iter().enumerate().filter(|(_, e)| asks_for_ticket(&e.subject)) {
                let report = report_of(event).map_err(|error| BatchFailure { at: Some(at + i), error })?;
                reports.push((report, event.correlation_id.clone()));
                positions.push(at + i);
            }
            if !reports.is_empty() {
                self.dispatch
                    .tickets_for_reports(txn, reports, &mut publish)
                    .await
                    .map_err(|f| BatchFailure { at: f.at.map(|i| positions[i]), error: internal(f.error) })?;
            }
            at += run;
        }
        outbox::enqueue_all(txn, &publish).await.map_err(|e| BatchFailure { at: None, error: e.into() })?;
        Ok(())
    }

    fn committed(&self) {
        self.dispatch.ticket_changed();
    }
}
