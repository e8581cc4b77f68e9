//! Creating, reading, listing and editing tickets.

use super::assign::{assign, manual_decision};
use super::change::{refuse, Cause, Change};
use super::{new_id, next_token, paging, Dispatch, Page};
use crate::domain::state::{is_open, waiting_state};
use crate::domain::time::{duration_micros, micros, DAY_US};
use crate::domain::{sla, validate};
use crate::store::entities::{ticket, ticket_change};
use crate::store::{self, Kind};
use flywheel_proto::flywheel::dispatch::v1::{
    CreateTicketRequest, DispatchTrigger, GetTicketRequest, ListTicketsRequest, Ticket, TicketAction, TicketOrderBy,
    TicketState, TicketTransition, TicketView, UpdateTicketRequest,
};
use flywheel_proto::flywheel::registry::v1::{Asset, Category, Site, Zone};
use flywheel_runtime::{pagination, Error, Result, Violations};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

impl Dispatch {
    pub async fn create_ticket(&self, req: CreateTicketRequest, cause: Cause, corr: &str) -> Result<Ticket> {
        let ticket = req.ticket.ok_or_else(|| Error::invalid("ticket", "is required"))?;
        validate::new_ticket(&ticket)?;
        let id = self
            .writer
            .write_once("CreateTicket", &req.request_id, async |txn| {
                let (t, events) = self.create_in(txn, ticket, None, cause, corr).await?;
                Ok((t.id, events))
            })
            .await?;
        self.ticket_changed();
        self.get_ticket(GetTicketRequest { id, view: TicketView::Basic as i32 }).await
    }

    /// Creates a validated ticket and dispatches it (to `crew` when given and active), in the
    /// caller's transaction.
    pub(super) async fn create_in(
        &self,
        txn: &DatabaseTransaction,
        req: Ticket,
        crew: Option<&str>,
        cause: Cause,
        corr: &str,
    ) -> Result<(Ticket, Vec<flywheel_runtime::events::OutgoingEvent>)> {
        // Creators take turns before the origin check and the day's code count, so two replicas
        // on PostgreSQL never pick the same code or both create a report's ticket.
        store::take_creation_turn(txn).await?;
        let site: Site = store::active_replica(txn, Kind::Site, &req.site_id).await?;
        let category: Category = store::active_replica(txn, Kind::Category, &req.category_id).await?;
        check_parts(txn, &req, &site).await?;
        let origin = req.origin.clone().unwrap_or_default();
        if !origin.report_id.is_empty() {
            let existing = ticket::Entity::find().filter(ticket::Column::ReportId.eq(&origin.report_id)).count(txn).await?;
            if existing > 0 {
                return Err(Error::AlreadyExists { kind: "ticket", field: "origin.report_id", value: origin.report_id });
            }
        }
        let now = flywheel_runtime::db::now_micros();
        let (prefix, day) = number_prefix(now);
        let code = code(&prefix, store::issue_ticket_numbers(txn, &day, &prefix, 1).await?);
        let mut ch = new_ticket(req, &site, &category, code, cause, now, corr);
        match crew {
            Some(crew) if store::crew_row(txn, crew).await?.active => assign(&mut ch, crew, manual_decision(), false),
            _ => {
                self.auto_dispatch(txn, &mut ch, DispatchTrigger::Created, &[]).await?;
            }
        }
        ch.commit(txn).await
    }

    pub async fn get_ticket(&self, req: GetTicketRequest) -> Result<Ticket> {
        let mut v = Violations::new();
        validate::id(&mut v, "id", &req.id);
        v.finish(())?;
        let row = store::ticket_row(self.db(), &req.id).await?;
        let mut t: Ticket = store::body(&row.body)?;
        if req.view != TicketView::Basic as i32 {
            t.history = history(self.db(), &t.id).await?;
        }
        Ok(t)
    }

    pub async fn list_tickets(&self, req: ListTicketsRequest) -> Result<Page<Ticket>> {
        let order = TicketOrderBy::try_from(req.order_by).unwrap_or(TicketOrderBy::Unspecified);
        let filters = ListTicketsRequest { page_size: 0, page_token: String::new(), ..req.clone() };
        let fp = pagination::fingerprint(&[&format!("{filters:?}")]);
        let (size, after) = paging(req.page_size, &req.page_token, fp)?;
        if let Some(range) = &req.create_time
            && let (Some(s), Some(e)) = (&range.start_time, &range.end_time)
                && micros(e) <= micros(s) {
                    return Err(Error::invalid("create_time", "end_time must be after start_time"));
                }
        let mut q = ticket::Entity::find().filter(filter(&req));
        let key_cols: &[ticket::Column] = match order {
            TicketOrderBy::ResolveDueTimeAsc => &[ticket::Column::ResolveDueUs, ticket::Column::Id],
            TicketOrderBy::Priority => &[ticket::Column::Priority, ticket::Column::ResolveDueUs, ticket::Column::Id],
            _ => &[ticket::Column::Id],
        };
        let descending = matches!(order, TicketOrderBy::Unspecified | TicketOrderBy::CreateTimeDesc);
        if let Some(after) = after {
            q = q.filter(after_key(key_cols, &after, descending)?);
        }
        for c in key_cols {
            q = if descending { q.order_by_desc(*c) } else { q.order_by_asc(*c) };
        }
        let mut rows = q.limit(size + 1).all(self.db()).await?;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let last = rows.last().map(|r| key_of(key_cols, r));
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let mut t: Ticket = store::body(&r.body)?;
            if req.view == TicketView::Full as i32 {
                t.history = history(self.db(), &t.id).await?;
            }
            items.push(t);
        }
        Ok(Page { items, next_page_token: next_token(last.as_deref(), more, fp) })
    }

    pub async fn update_ticket(&self, req: UpdateTicketRequest, cause: Cause) -> Result<Ticket> {
        let patch = req.ticket.ok_or_else(|| Error::invalid("ticket", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        validate::mask(&paths, validate::TICKET_UPDATABLE)?;
        let mut v = Violations::new();
        validate::ticket_fields(&mut v, &patch, Some(&paths));
        validate::note(&mut v, &req.note, false);
        v.finish(())?;
        let t = self
            .command("UpdateTicket", &patch.id, Some(patch.version), cause, &req.request_id, async |txn, ch| {
                if !is_open(ch.state()) {
                    return Err(refuse(&ch.ticket, "a resolved, closed or cancelled ticket cannot be updated"));
                }
                let site: Site = store::replica(txn, Kind::Site, &ch.ticket.site_id).await?.map(|(_, s)| s).unwrap_or_default();
                let candidate = Ticket {
                    zone_id: if paths.iter().any(|p| p == "zone_id") { patch.zone_id.clone() } else { String::new() },
                    asset_id: if paths.iter().any(|p| p == "asset_id") { patch.asset_id.clone() } else { String::new() },
                    ..Default::default()
                };
                check_parts(txn, &candidate, &site).await?;
                let previous_priority = ch.ticket.priority;
                let t = &mut ch.ticket;
                for p in &paths {
                    match p.as_str() {
                        "title" => t.title = patch.title.trim().to_owned(),
                        "description" => t.description = patch.description.clone(),
                        "zone_id" => t.zone_id = patch.zone_id.clone(),
                        "asset_id" => t.asset_id = patch.asset_id.clone(),
                        "location" => t.location = patch.location.or(site.location),
                        "media_urls" => t.media_urls = patch.media_urls.clone(),
                        "priority" => t.priority = patch.priority,
                        _ => {}
                    }
                }
                if t.priority != previous_priority {
                    let category: Category = store::replica(txn, Kind::Category, &t.category_id).await?.map(|(_, c)| c).unwrap_or_default();
                    let (ack, resolve) = targets(&category, t.priority);
                    if let Some(s) = t.sla.as_mut() {
                        sla::retarget(s, ack, resolve);
                    }
                }
                let changed = t.priority != previous_priority;
                let state = ch.state();
                ch.record_plain(TicketAction::Update, state, |tr| {
                    tr.note = req.note.clone();
                    tr.changed_fields = paths.clone();
                    if changed {
                        tr.previous_priority = previous_priority;
                    }
                });
                Ok(())
            })
            .await?;
        Ok(t)
    }

    /// Runs a command on one ticket: load at `expected` version, `apply`, commit with events.
    /// A request id makes a retry return the ticket as it is now instead of running again.
    pub(super) async fn command(
        &self,
        scope: &str,
        ticket_id: &str,
        expected: Option<i64>,
        cause: Cause,
        request_id: &str,
        apply: impl AsyncFnOnce(&DatabaseTransaction, &mut Change) -> Result<()>,
    ) -> Result<Ticket> {
        let mut v = Violations::new();
        validate::id(&mut v, "ticket_id", ticket_id);
        v.finish(())?;
        let id = self
            .writer
            .write_once(scope, request_id, async |txn| {
                let row = store::ticket_row(txn, ticket_id).await?;
                let mut ch = Change::of(&row, expected, cause, flywheel_runtime::db::now_micros())?;
                apply(txn, &mut ch).await?;
                let (t, events) = ch.commit(txn).await?;
                Ok((t.id, events))
            })
            .await?;
        self.ticket_changed();
        self.retry.notify_one();
        self.get_ticket(GetTicketRequest { id, view: TicketView::Basic as i32 }).await
    }
}

/// The acknowledge and resolve targets of `category` for `priority`, in microseconds.
pub(super) fn targets(category: &Category, priority: i32) -> (i64, i64) {
    category
        .sla_targets
        .iter()
        .find(|t| t.priority == priority)
        .map(|t| {
            let ack = t.acknowledge_within.as_ref().map(duration_micros).unwrap_or(DAY_US);
            (ack, t.resolve_within.as_ref().map(duration_micros).unwrap_or(ack))
        })
        // The registry requires a target per priority; a replica missing one gets a lenient default.
        .unwrap_or((DAY_US, 7 * DAY_US))
}

/// A new ticket of `site` and `category` as the request asks, with its creation recorded.
pub(super) fn new_ticket(req: Ticket, site: &Site, category: &Category, code: String, cause: Cause, now: i64, corr: &str) -> Change {
    let priority = if req.priority == 0 { category.default_priority } else { req.priority };
    let (ack, resolve) = targets(category, priority);
    let ticket = Ticket {
        id: new_id(),
        code,
        region_path: site.region_path.clone(),
        cell: category.cell,
        priority,
        title: if req.title.trim().is_empty() { category.name.clone() } else { req.title.trim().to_owned() },
        location: req.location.or(site.location),
        state: TicketState::New as i32,
        sla: Some(sla::start_cycle(1, now, ack, resolve)),
        correlation_id: corr.to_owned(),
        history: Vec::new(),
        ..req
    };
    let mut ch = Change::create(ticket, cause, now);
    ch.record_plain(TicketAction::Create, TicketState::New, |_| {});
    ch
}

/// The zone and asset of a ticket, when given, must be known, active and of its site.
async fn check_parts(txn: &DatabaseTransaction, t: &Ticket, site: &Site) -> Result<()> {
    let zone = match t.zone_id.as_str() {
        "" => None,
        id => Some(store::active_replica::<Zone>(txn, Kind::Zone, id).await?),
    };
    let asset = match t.asset_id.as_str() {
        "" => None,
        id => Some(store::active_replica::<Asset>(txn, Kind::Asset, id).await?),
    };
    parts_of_site(zone.as_ref(), asset.as_ref(), site)
}

/// A ticket's zone and asset must be of its site.
pub(super) fn parts_of_site(zone: Option<&Zone>, asset: Option<&Asset>, site: &Site) -> Result<()> {
    if let Some(zone) = zone.filter(|z| z.site_id != site.id) {
        return Err(Error::FailedPrecondition { kind: "zone", id: zone.id.clone(), state: "ACTIVE".into(), reason: "the zone is not of the ticket's site".into() });
    }
    if let Some(asset) = asset.filter(|a| a.site_id != site.id) {
        return Err(Error::FailedPrecondition { kind: "asset", id: asset.id.clone(), state: "ACTIVE".into(), reason: "the asset is not of the ticket's site".into() });
    }
    Ok(())
}

/// The code prefix of tickets created at `now_us` ("T-20250301-") and its day ("20250301").
pub(super) fn number_prefix(now_us: i64) -> (String, String) {
    let day = chrono::DateTime::from_timestamp_micros(now_us).unwrap_or_default().format("%Y%m%d").to_string();
    (format!("T-{day}-"), day)
}

/// "T-20250301-0042": the day's prefix and number.
pub(super) fn code(prefix: &str, number: i64) -> String {
    format!("{prefix}{number:04}")
}

/// A ticket's whole history, oldest first.
pub(super) async fn history(conn: &impl sea_orm::ConnectionTrait, ticket_id: &str) -> Result<Vec<TicketTransition>> {
    let rows = ticket_change::Entity::find()
        .filter(ticket_change::Column::TicketId.eq(ticket_id))
        .order_by_asc(ticket_change::Column::Sequence)
        .all(conn)
        .await?;
    rows.iter().map(|r| store::body(&r.transition)).collect()
}

fn filter(req: &ListTicketsRequest) -> Condition {
    let mut c = Condition::all();
    let text = [
        (ticket::Column::CrewId, &req.crew_id),
        (ticket::Column::SiteId, &req.site_id),
        (ticket::Column::CategoryId, &req.category_id),
        (ticket::Column::ReportId, &req.report_id),
        (ticket::Column::PlanId, &req.plan_id),
    ];
    for (col, value) in text {
        if !value.is_empty() {
            c = c.add(col.eq(value.as_str()));
        }
    }
    if !req.region_id.is_empty() {
        c = c.add(ticket::Column::RegionPath.contains(format!("/{}/", req.region_id)));
    }
    let sets = [
        (ticket::Column::State, &req.states),
        (ticket::Column::Priority, &req.priorities),
        (ticket::Column::SlaStage, &req.sla_stages),
    ];
    for (col, values) in sets {
        if !values.is_empty() {
            c = c.add(col.is_in(values.clone()));
        }
    }
    let enums = [
        (ticket::Column::OriginKind, req.origin_kind),
        (ticket::Column::Dimension, req.dimension),
        (ticket::Column::Perspective, req.perspective),
    ];
    for (col, value) in enums {
        if value != 0 {
            c = c.add(col.eq(value));
        }
    }
    if let Some(u) = req.unassignable {
        c = c.add(ticket::Column::Unassignable.eq(u));
        if u {
            c = c.add(ticket::Column::State.is_in([TicketState::New as i32, waiting_state(1) as i32]));
        }
    }
    if let Some(range) = &req.create_time {
        if let Some(s) = &range.start_time {
            c = c.add(ticket::Column::CreateUs.gte(micros(s)));
        }
        if let Some(e) = &range.end_time {
            c = c.add(ticket::Column::CreateUs.lt(micros(e)));
        }
    }
    if let Some(before) = &req.resolve_due_before {
        c = c.add(ticket::Column::ResolveDueUs.lt(micros(before)));
    }
    c
}

/// The sort key of a row as a page token key: the values joined by '|'.
fn key_of(cols: &[ticket::Column], r: &ticket::Model) -> String {
    cols.iter()
        .map(|c| match c {
            ticket::Column::ResolveDueUs => r.resolve_due_us.to_string(),
            ticket::Column::Priority => r.priority.to_string(),
            _ => r.id.clone(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Rows strictly after `key` in the order of `cols` (keyset pagination).
fn after_key(cols: &[ticket::Column], key: &str, descending: bool) -> Result<Condition> {
    let parts: Vec<&str> = key.split('|').collect();
    let bad = || Error::invalid("page_token", "not a token from this list with these filters");
    if parts.len() != cols.len() {
        return Err(bad());
    }
    let value = |i: usize| -> Result<sea_orm::Value> {
        Ok(match cols[i] {
            ticket::Column::Id => parts[i].to_owned().into(),
            _ => parts[i].parse::<i64>().map_err(|_| bad())?.into(),
        })
    };
    // (a, b, c) > (x, y, z)  ==  a > x OR (a = x AND (b > y OR (b = y AND c > z)))
    let mut cond: Option<Condition> = None;
    for i in (0..cols.len()).rev() {
        let col = Expr::col((ticket::Entity, cols[i]));
        let beyond = if descending { col.clone().lt(value(i)?) } else { col.clone().gt(value(i)?) };
        cond = Some(match cond {
            None => Condition::all().add(beyond),
            Some(rest) => Condition::any().add(beyond).add(Condition::all().add(col.eq(value(i)?)).add(rest)),
        });
    }
    cond.ok_or_else(bad)
}
