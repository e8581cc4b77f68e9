//! Tickets for the reports of a batch of feedback's events, created together: one read of the
//! replica rows, the existing tickets and the covering crews, one block of ticket numbers, and
//! one write per table — the same tickets, codes and assignments as creating them one by one in
//! order (each decision sees the crews' load after the earlier ones).

use super::assign::{candidates_among, dispatch_among};
use super::change::TicketWrite;
use super::intake::feedback;
use super::tickets::{code, new_ticket, number_prefix, parts_of_site};
use super::Dispatch;
use crate::store::entities::{ticket, ticket_change};
use crate::store::{self, Kind};
use flywheel_proto::flywheel::dispatch::v1::{DispatchTrigger, Ticket, TicketOrigin, TicketOriginKind};
use flywheel_proto::flywheel::feedback::v1::Report;
use flywheel_proto::flywheel::registry::v1::{Asset, Category, Site, Zone};
use flywheel_runtime::events::{OutgoingEvent, outbox};
use flywheel_runtime::{Error, Result, bulk};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, QueryTrait};

/// Why a batch of reports made no tickets: the report at fault (its index), when one is.
#[derive(Debug)]
pub struct ReportsFailure {
    pub at: Option<usize>,
    pub error: Error,
}

/// The ticket a report asks for and its correlation id, or None when it needs no field work.
fn request_of(report: Report, corr: &str) -> Option<(Ticket, String)> {
    if !report.needs_field_work || report.site_id.is_empty() || report.category_id.is_empty() {
        return None;
    }
    let corr = if report.correlation_id.is_empty() { corr.to_owned() } else { report.correlation_id.clone() };
    let request = Ticket {
        site_id: report.site_id,
        zone_id: report.zone_id,
        category_id: report.category_id,
        priority: report.priority_hint,
        description: report.description.chars().take(4000).collect(),
        origin: Some(TicketOrigin {
            kind: TicketOriginKind::ResidentReport as i32,
            report_id: report.id,
            report_tracking_code: report.tracking_code.chars().take(32).collect(),
            ..Default::default()
        }),
        location: report.location,
        media_urls: report.media_urls.into_iter().take(20).collect(),
        support_count: report.support_count,
        ..Default::default()
    };
    Some((request, corr))
}

fn report_id(t: &Ticket) -> &str {
    t.origin.as_ref().map(|o| o.report_id.as_str()).unwrap_or_default()
}

impl Dispatch {
    /// Creates the ticket of each report (with its correlation id) that needs field work and has
    /// none yet, dispatching each in order, in the consumer's transaction. When it creates any,
    /// it writes them with `earlier` (the batch's events not yet in the outbox) and their own
    /// events to the outbox, and empties `earlier`.
    pub async fn tickets_for_reports(
        &self,
        txn: &DatabaseTransaction,
        reports: Vec<(Report, String)>,
        earlier: &mut Vec<OutgoingEvent>,
    ) -> std::result::Result<(), ReportsFailure> {
        let whole = |error: Error| ReportsFailure { at: None, error };
        let requests: Vec<(usize, Ticket, String)> = reports
            .into_iter()
            .enumerate()
            .filter_map(|(at, (report, corr))| request_of(report, &corr).map(|(t, corr)| (at, t, corr)))
            .collect();
        if requests.is_empty() {
            return Ok(());
        }
        // Creators take turns before the origin check and the numbers (see `create_in`).
        store::take_creation_turn(txn).await.map_err(whole)?;
        let wanted: Vec<(Kind, &str)> = requests
            .iter()
            .flat_map(|(_, t, _)| {
                [(Kind::Site, &t.site_id), (Kind::Category, &t.category_id), (Kind::Zone, &t.zone_id), (Kind::Asset, &t.asset_id)]
            })
            .filter(|(_, id)| !id.is_empty())
            .map(|(kind, id)| (kind, id.as_str()))
            .collect();
        let replicas = store::replicas(txn, &wanted).await.map_err(whole)?;
        let report_ids = requests.iter().map(|(_, t, _)| report_id(t).to_owned()).collect();
        let mut taken = store::reports_with_tickets(txn, report_ids).await.map_err(whole)?;
        // In order, as one by one: a report's references are checked before whether it has a
        // ticket already (an earlier event of the batch may have made it).
        let mut fresh: Vec<(Ticket, String, Site, Category)> = Vec::new();
        for (at, t, corr) in requests {
            let checked = || -> Result<(Site, Category)> {
                let site: Site = store::active_body(&replicas, Kind::Site, &t.site_id)?;
                let category: Category = store::active_body(&replicas, Kind::Category, &t.category_id)?;
                let zone = (!t.zone_id.is_empty()).then(|| store::active_body::<Zone>(&replicas, Kind::Zone, &t.zone_id)).transpose()?;
                let asset = (!t.asset_id.is_empty()).then(|| store::active_body::<Asset>(&replicas, Kind::Asset, &t.asset_id)).transpose()?;
                parts_of_site(zone.as_ref(), asset.as_ref(), &site)?;
                Ok((site, category))
            };
            let (site, category) = checked().map_err(|error| ReportsFailure { at: Some(at), error })?;
            // (A report without an id, which feedback never sends, is not matched to a ticket.)
            if report_id(&t).is_empty() || taken.insert(report_id(&t).to_owned()) {
                fresh.push((t, corr, site, category));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let writes = self.create_dispatched(txn, fresh).await.map_err(whole)?;
        write_new(txn, writes, std::mem::take(earlier)).await.map_err(whole)
    }

    /// New tickets, numbered in order and dispatched one after another against the covering
    /// crews' rows read once, each assignment counting toward the next decision.
    async fn create_dispatched(&self, txn: &DatabaseTransaction, fresh: Vec<(Ticket, String, Site, Category)>) -> Result<Vec<TicketWrite>> {
        let now = flywheel_runtime::db::now_micros();
        let (prefix, day) = number_prefix(now);
        let first = store::issue_ticket_numbers(txn, &day, &prefix, fresh.len() as i64).await?;
        let sites: Vec<(&str, &[String])> = fresh.iter().map(|(t, _, site, _)| (t.site_id.as_str(), &site.region_path[..])).collect();
        let (covering, mut crews) = self.index.covering_rows(txn, &sites).await?;
        let mut writes = Vec::with_capacity(fresh.len());
        for ((number, (request, corr, site, category)), covering) in (first..).zip(fresh).zip(covering) {
            let mut ch = new_ticket(request, &site, &category, code(&prefix, number), feedback(), now, &corr);
            let candidates = candidates_among(covering, &crews, now);
            let chosen = dispatch_among(&mut ch, DispatchTrigger::Created, &category.required_skills, &candidates, &[]);
            if let Some(row) = chosen.and_then(|id| crews.get_mut(&id)) {
                row.open_ticket_count += 1;
                row.last_assignment_us = Some(now);
            }
            writes.push(ch.into_write());
        }
        Ok(writes)
    }
}

/// Writes new tickets, the crews' loads, the history rows and the outbox's events (`events`,
/// then the tickets') in one round trip on PostgreSQL (`bulk::execute_all`), under the change
/// log's turn. A ticket that exists already fails the whole.
async fn write_new(txn: &DatabaseTransaction, writes: Vec<TicketWrite>, mut events: Vec<OutgoingEvent>) -> Result<()> {
    let mut rows = Vec::with_capacity(writes.len());
    let mut loads: Vec<(String, i32)> = Vec::new();
    let mut history: Vec<ticket_change::ActiveModel> = Vec::new();
    let now_us = writes.iter().map(|w| w.now_us).max().unwrap_or_default();
    for w in writes {
        rows.push(w.row);
        loads.extend(w.loads);
        history.extend(w.history);
        events.extend(w.events);
    }
    let expected = rows.len() as u64;
    let backend = txn.get_database_backend();
    let insert = ticket::Entity::insert_many(rows).on_conflict(OnConflict::new().do_nothing().to_owned()).into_query();
    let mut statements = vec![bulk::statement(backend, &insert)];
    statements.extend(store::loads_update(&loads, now_us).map(|update| bulk::statement(backend, &update)));
    if !history.is_empty() {
        store::take_change_log_turn(txn).await?;
        statements.push(bulk::statement(backend, &ticket_change::Entity::insert_many(history).into_query()));
    }
    statements.extend(outbox::enqueue_statement(backend, &events));
    let inserted = bulk::execute_all(txn, &statements).await?[0];
    if inserted != expected {
        return Err(Error::AlreadyExists { kind: "ticket", field: "origin", value: format!("{} of {expected} new tickets", expected - inserted) });
    }
    Ok(())
}
