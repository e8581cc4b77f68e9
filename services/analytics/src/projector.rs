//! Applies the events of registry, dispatch and feedback to the projections, inside the
//! transaction the runtime's consumer opened (the inbox makes redelivery a no-op). Every update
//! is additive or version-guarded, so events landing in any order give the same tables.
//!
//! This is the translation from events to changes; a batch's changes are folded and written
//! set-based by `store::batch`.

use crate::convert::{duration_us, path_key, timestamp_us};
use crate::domain::kpi::{Counters, Facts};
use crate::domain::time::hour_floor;
use crate::store::batch::{Changes, Snapshot};
use crate::store::tickets::Milestones;
use crate::store::{Cell, entities};
use flywheel_proto::flywheel::common::v1::ScenarioCell;
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::events::IncomingEvent;
use flywheel_runtime::events::consumer::{BatchFailure, EventHandler, HandlerError};
use flywheel_runtime::events::streams;
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

/// Projects events; day rows are kept in `day_zone` (`ANALYTICS_TIME_ZONE`, the zone the read
/// side plans its day reads in).
pub struct Projector {
    pub day_zone: Tz,
}

#[async_trait::async_trait]
impl EventHandler for Projector {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        apply(txn, self.day_zone, &[event]).await.map_err(|failure| failure.error)
    }

    async fn handle_batch(&self, txn: &DatabaseTransaction, events: &[&IncomingEvent]) -> Result<(), BatchFailure> {
        apply(txn, self.day_zone, events).await
    }
}

/// Applies events as one batch (also used by the rebuild): every event is translated first (an
/// event that cannot be read fails alone, with its place), then the changes are written.
pub async fn apply(db: &impl ConnectionTrait, day_zone: Tz, events: &[&IncomingEvent]) -> Result<(), BatchFailure> {
    let mut changes = Changes::default();
    for (at, event) in events.iter().enumerate() {
        translate(&mut changes, event).map_err(|error| BatchFailure { at: Some(at), error })?;
    }
    // A failed write belongs to the batch as a whole.
    changes.write(db, day_zone).await.map_err(|e| BatchFailure { at: None, error: e.into() })
}

fn translate(changes: &mut Changes, event: &IncomingEvent) -> Result<(), HandlerError> {
    let stream = if event.subject.starts_with("flywheel.registry.") {
        if let Some(snapshot) = registry_event(event)? {
            changes.snapshot(snapshot);
        }
        streams::REGISTRY.name
    } else if event.subject.starts_with("flywheel.dispatch.") {
        ticket_event(changes, event)?;
        streams::DISPATCH.name
    } else if event.subject.starts_with("flywheel.feedback.") {
        report_event(changes, event)?;
        streams::FEEDBACK.name
    } else {
        return Ok(());
    };
    changes.count(stream, event.time_us);
    Ok(())
}

fn cell_axes(cell: Option<&ScenarioCell>) -> (i32, i32) {
    cell.map(|c| (c.dimension, c.perspective)).unwrap_or((0, 0))
}

fn registry_event(event: &IncomingEvent) -> Result<Option<Snapshot>, HandlerError> {
    let snapshot = match event.subject.as_str() {
        "flywheel.registry.region.created" => region(event.decode::<registry::RegionCreated>()?.region)?,
        "flywheel.registry.region.updated" => region(event.decode::<registry::RegionUpdated>()?.region)?,
        "flywheel.registry.region.retired" => region(event.decode::<registry::RegionRetired>()?.region)?,
        "flywheel.registry.site.registered" => site(event, event.decode::<registry::SiteRegistered>()?.site)?,
        "flywheel.registry.site.updated" => site(event, event.decode::<registry::SiteUpdated>()?.site)?,
        "flywheel.registry.site.retired" => site(event, event.decode::<registry::SiteRetired>()?.site)?,
        "flywheel.registry.category.defined" => category(event.decode::<registry::CategoryDefined>()?.category)?,
        "flywheel.registry.category.changed" => category(event.decode::<registry::CategoryChanged>()?.category)?,
        "flywheel.registry.category.retired" => category(event.decode::<registry::CategoryRetired>()?.category)?,
        _ => return Ok(None),
    };
    Ok(Some(snapshot))
}

fn missing(what: &str) -> HandlerError {
    HandlerError::Permanent(anyhow::anyhow!("the event carries no {what}"))
}

fn region(r: Option<registry::Region>) -> Result<Snapshot, HandlerError> {
    let r = r.ok_or_else(|| missing("region"))?;
    let mut path = r.ancestor_ids.clone();
    path.push(r.id.clone());
    Ok(Snapshot::Region(entities::region::Model {
        path: path_key(&path),
        id: r.id,
        code: r.code,
        name: r.name,
        kind: r.kind,
        version: r.version,
    }))
}

fn site(event: &IncomingEvent, s: Option<registry::Site>) -> Result<Snapshot, HandlerError> {
    let s = s.ok_or_else(|| missing("site"))?;
    let retired = s.status == registry::Status::Retired as i32;
    Ok(Snapshot::Site(entities::site::Model {
        region_path: path_key(&s.region_path),
        lat: s.location.as_ref().map(|l| l.lat).unwrap_or_default(),
        lng: s.location.as_ref().map(|l| l.lng).unwrap_or_default(),
        registered_us: s.create_time.as_ref().map(timestamp_us).unwrap_or(event.time_us),
        retired_us: retired.then(|| s.retire_time.as_ref().map(timestamp_us).unwrap_or(event.time_us)),
        id: s.id,
        code: s.code,
        name: s.name,
        flagship: s.flagship,
        version: s.version,
    }))
}

fn category(c: Option<registry::Category>) -> Result<Snapshot, HandlerError> {
    let c = c.ok_or_else(|| missing("category"))?;
    let (dimension, perspective) = cell_axes(c.cell.as_ref());
    Ok(Snapshot::Category(entities::category::Model {
        id: c.id,
        code: c.code,
        name: c.name,
        dimension,
        perspective,
        version: c.version,
    }))
}

/// The fields every ticket event starts with; prost skips the rest.
#[derive(Clone, PartialEq, prost::Message)]
struct TicketEnvelope {
    #[prost(message, optional, tag = "1")]
    ticket: Option<dispatch::Ticket>,
}

fn ticket_event(changes: &mut Changes, event: &IncomingEvent) -> Result<(), HandlerError> {
    let Some(kind) = event.subject.strip_prefix("flywheel.dispatch.ticket.") else {
        return Ok(()); // crew events carry nothing analytics counts
    };
    let ticket = event.decode::<TicketEnvelope>()?.ticket.ok_or_else(|| missing("ticket"))?;
    let (dimension, perspective) = cell_axes(ticket.cell.as_ref());
    let cell = Cell { site_id: ticket.site_id.clone(), category_id: ticket.category_id.clone(), dimension, perspective };
    let path = path_key(&ticket.region_path);
    let mut facts = Facts::default();
    let mut backlog = 0;
    let mut milestones = Milestones::default();
    let c = &mut facts.counters;
    match kind {
        "created" => {
            c.tickets_opened = 1;
            backlog = 1;
        }
        "accepted" => {
            let m = event.decode::<dispatch::TicketAccepted>()?;
            if m.first_in_cycle {
                let ack = m.time_to_acknowledge.as_ref().map(duration_us).unwrap_or(0);
                facts.acknowledge.add(ack);
                milestones.acknowledged = Some((event.time_us, ack));
            }
        }
        "resolved" => {
            let m = event.decode::<dispatch::TicketResolved>()?;
            c.tickets_resolved = 1;
            c.resolved_within_sla = i64::from(m.resolved_within_sla);
            c.first_assignment_resolutions = i64::from(m.first_assignment_resolution);
            let ttr = m.time_to_resolve.as_ref().map(duration_us).unwrap_or(0);
            facts.resolve.add(ttr);
            milestones.resolved = Some((event.time_us, ttr, m.resolved_within_sla));
            backlog = -1;
        }
        "closed" => c.tickets_closed = 1,
        "cancelled" => {
            c.tickets_cancelled = 1;
            backlog = -1;
        }
        "reopened" => {
            let m = event.decode::<dispatch::TicketReopened>()?;
            c.tickets_reopened = 1;
            backlog = 1;
            // The reopen also counts against the resolution it undoes, in that resolution's hour.
            let resolved_at = m.previous_resolve_time.as_ref().map(timestamp_us).unwrap_or(event.time_us);
            let mut undo = Facts::default();
            undo.counters.reopened_resolutions = 1;
            changes.add_facts(hour_floor(resolved_at), &cell, &path, 0, undo);
        }
        "sla_breached" => {
            let m = event.decode::<dispatch::TicketSlaBreached>()?;
            if m.clock == dispatch::SlaClock::Acknowledge as i32 {
                c.acknowledge_breaches = 1;
            } else {
                c.resolve_breaches = 1;
            }
        }
        "escalated" => c.escalations = 1,
        _ => {}
    }
    changes.record_ticket(ticket_row(event, &ticket, &cell, &path), milestones);
    if facts.counters != Counters::default() || facts.acknowledge.count + facts.resolve.count > 0 {
        changes.add_facts(hour_floor(event.time_us), &cell, &path, backlog, facts);
    }
    Ok(())
}
fn ticket_row(event: &IncomingEvent, t: &dispatch::Ticket, cell: &Cell, path: &str) -> entities::ticket::Model {
    entities::ticket::Model {
        id: t.id.clone(),
        site_id: cell.site_id.clone(),
        region_path: path.to_owned(),
        category_id: cell.category_id.clone(),
        dimension: cell.dimension,
        perspective: cell.perspective,
        priority: t.priority,
        origin_kind: t.origin.as_ref().map(|o| o.kind).unwrap_or(0),
        report_id: t.origin.as_ref().map(|o| o.report_id.clone()).unwrap_or_default(),
        state: t.state,
        create_us: t.create_time.as_ref().map(timestamp_us).unwrap_or(event.time_us),
        first_acknowledge_us: None,
        time_to_acknowledge_us: None,
        resolve_us: None,
        time_to_resolve_us: None,
        resolved_within_sla: None,
        reopen_count: t.reopen_count,
        assignment_count: t.assignment_count,
        version: t.version,
    }
}

fn report_event(changes: &mut Changes, event: &IncomingEvent) -> Result<(), HandlerError> {
    let mut facts = Facts::default();
    let c = &mut facts.counters;
    let report = match event.subject.as_str() {
        "flywheel.feedback.report.submitted" => {
            let report = event.decode::<feedback::ReportSubmitted>()?.report;
            c.reports_received = 1;
            match report.as_ref().map(|r| r.kind) {
                Some(k) if k == feedback::ReportKind::Praise as i32 => c.praise_received = 1,
                Some(k) if k == feedback::ReportKind::Complaint as i32 => c.complaints_received = 1,
                _ => {}
            }
            report
        }
        "flywheel.feedback.report.supported" => {
            c.supports = 1;
            event.decode::<feedback::ReportSupported>()?.report
        }
        "flywheel.feedback.report.rated" => {
            let m = event.decode::<feedback::ReportRated>()?;
            c.ratings_count = 1;
            c.rating_sum = i64::from(m.rating);
            c.fixed_yes = i64::from(m.fixed == feedback::FixedAnswer::Yes as i32);
            if !m.ticket_id.is_empty() {
                changes.rate(entities::ticket_rating::Model {
                    ticket_id: m.ticket_id.clone(),
                    survey_round: m.survey_round,
                    rating: m.rating,
                    fixed: m.fixed,
                });
            }
            m.report
        }
        _ => return Ok(()),
    };
    let report = report.ok_or_else(|| missing("report"))?;
    let (dimension, perspective) = cell_axes(report.cell.as_ref());
    let cell = Cell { site_id: report.site_id, category_id: report.category_id, dimension, perspective };
    changes.add_facts(hour_floor(event.time_us), &cell, &path_key(&report.region_path), 0, facts);
    Ok(())
}
