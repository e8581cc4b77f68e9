//! Recurring inspection and patrol plans, and the scheduler that turns each occurrence into one
//! ticket. The next occurrence is stored with the plan; creating its ticket and advancing the plan
//! happen in one transaction that claims the plan's version, and (plan, occurrence) is unique
//! among tickets, so each occurrence makes one ticket across restarts and replicas. Occurrences
//! missed while dispatch was down are created late, one after another.

use super::{new_id, next_token, paging, system, Dispatch, Page};
use crate::domain::recurrence::{self, next_occurrence};
use crate::domain::time::{duration_micros, micros, timestamp, DAY_US, MINUTE_US};
use crate::domain::validate;
use crate::store::entities::work_plan;
use crate::store::{self, Kind};
use flywheel_proto::flywheel::dispatch::v1::*;
use flywheel_proto::flywheel::registry::v1::{Category, Site, Zone};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::{pagination, Error, Result, Violations};
use prost::Message;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use std::time::Duration;
use tokio::sync::watch;

const UPDATABLE: &[&str] = &["name", "zone_id", "category_id", "priority", "description", "crew_id", "recurrence", "create_ahead", "active"];
const POLL: Duration = Duration::from_millis(500);

fn check(p: &WorkPlan, only: Option<&[String]>) -> Result<()> {
    let mut v = Violations::new();
    let has = |f: &str| only.is_none_or(|paths| paths.iter().any(|p| p == f));
    if only.is_none() {
        validate::code(&mut v, "plan.code", &p.code);
        validate::id(&mut v, "plan.site_id", &p.site_id);
        validate::required_enum(&mut v, "plan.kind", p.kind, WorkPlanKind::try_from(p.kind).is_ok());
    }
    if has("name") {
        validate::required_text(&mut v, "plan.name", &p.name, 200);
    }
    if has("category_id") {
        validate::id(&mut v, "plan.category_id", &p.category_id);
    }
    if has("priority") {
        validate::priority(&mut v, "plan.priority", p.priority, false);
    }
    if has("description") {
        validate::required_text(&mut v, "plan.description", &p.description, 4000);
    }
    if has("recurrence") {
        match &p.recurrence {
            Some(r) => recurrence::validate(&mut v, "plan.recurrence", r),
            None => v.add("plan.recurrence", "is required"),
        }
    }
    if has("create_ahead") {
        let ahead = p.create_ahead.as_ref().map(duration_micros).unwrap_or(0);
        v.check((0..=7 * DAY_US).contains(&ahead) && ahead % MINUTE_US == 0, "plan.create_ahead", "must be whole minutes, 0..7 days");
    }
    v.finish(())
}

/// The plan's references must be known and active; the zone must be of the site.
async fn check_references(txn: &DatabaseTransaction, p: &WorkPlan) -> Result<()> {
    store::active_replica::<Site>(txn, Kind::Site, &p.site_id).await?;
    store::active_replica::<Category>(txn, Kind::Category, &p.category_id).await?;
    if !p.zone_id.is_empty() {
        let zone: Zone = store::active_replica(txn, Kind::Zone, &p.zone_id).await?;
        if zone.site_id != p.site_id {
            return Err(Error::FailedPrecondition { kind: "zone", id: zone.id, state: "ACTIVE".into(), reason: "the zone is not of the plan's site".into() });
        }
    }
    if !p.crew_id.is_empty() && !store::crew_row(txn, &p.crew_id).await?.active {
        return Err(Error::FailedPrecondition { kind: "crew", id: p.crew_id.clone(), state: "INACTIVE".into(), reason: "the crew is inactive".into() });
    }
    Ok(())
}

fn plan_of(row: &work_plan::Model) -> Result<WorkPlan> {
    let mut p: WorkPlan = store::body(&row.body)?;
    p.id = row.id.clone();
    p.code = row.code.clone();
    p.active = Some(row.active);
    p.version = row.version;
    p.create_time = Some(timestamp(row.create_us));
    p.update_time = Some(timestamp(row.update_us));
    Ok(p)
}

/// Sets the next occurrence from `from_us` (none when inactive or ended) and its due instant.
fn schedule(p: &mut WorkPlan, from_us: i64) -> Option<i64> {
    let next = p.active.unwrap_or(true).then(|| p.recurrence.as_ref().and_then(|r| next_occurrence(r, from_us))).flatten();
    p.next_occurrence_time = next.map(timestamp);
    let ahead = p.create_ahead.as_ref().map(duration_micros).unwrap_or(0);
    next.map(|n| n - ahead)
}

impl Dispatch {
    pub async fn create_work_plan(&self, req: CreateWorkPlanRequest, _corr: &str) -> Result<WorkPlan> {
        let mut p = req.plan.ok_or_else(|| Error::invalid("plan", "is required"))?;
        check(&p, None)?;
        let id = self
            .writer
            .write_once("CreateWorkPlan", &req.request_id, async |txn| {
                if work_plan::Entity::find().filter(work_plan::Column::Code.eq(&p.code)).one(txn).await?.is_some() {
                    return Err(Error::AlreadyExists { kind: "work plan", field: "code", value: p.code.clone() });
                }
                check_references(txn, &p).await?;
                let now = now_micros();
                p.active = Some(p.active.unwrap_or(true));
                p.last_occurrence_time = None;
                p.tickets_created = 0;
                let next_due_us = schedule(&mut p, now);
                let row = work_plan::Model {
                    id: new_id(),
                    code: p.code.clone(),
                    site_id: p.site_id.clone(),
                    kind: p.kind,
                    category_id: p.category_id.clone(),
                    active: p.active.unwrap_or(true),
                    next_due_us,
                    version: 1,
                    create_us: now,
                    update_us: now,
                    body: p.encode_to_vec(),
                };
                let id = row.id.clone();
                match work_plan::Entity::insert(work_plan::ActiveModel::from(row)).exec_without_returning(txn).await {
                    Err(e) if flywheel_runtime::error::is_unique_violation(&e) => {
                        Err(Error::AlreadyExists { kind: "work plan", field: "code", value: p.code.clone() })
                    }
                    other => other.map(|_| (id, Vec::new())).map_err(Error::from),
                }
            })
            .await?;
        self.plans.notify_one();
        self.get_work_plan(&id).await
    }

    pub async fn get_work_plan(&self, id: &str) -> Result<WorkPlan> {
        let mut v = Violations::new();
        validate::id(&mut v, "id", id);
        v.finish(())?;
        let row = work_plan::Entity::find_by_id(id.to_owned()).one(self.db()).await?.ok_or_else(|| Error::not_found("work plan", id))?;
        plan_of(&row)
    }

    pub async fn list_work_plans(&self, req: ListWorkPlansRequest) -> Result<Page<WorkPlan>> {
        let filters = ListWorkPlansRequest { page_size: 0, page_token: String::new(), ..req.clone() };
        let fp = pagination::fingerprint(&[&format!("{filters:?}")]);
        let (size, after) = paging(req.page_size, &req.page_token, fp)?;
        let mut q = work_plan::Entity::find().order_by_asc(work_plan::Column::Id);
        if !req.site_id.is_empty() {
            q = q.filter(work_plan::Column::SiteId.eq(&req.site_id));
        }
        if req.kind != 0 {
            q = q.filter(work_plan::Column::Kind.eq(req.kind));
        }
        if !req.category_id.is_empty() {
            q = q.filter(work_plan::Column::CategoryId.eq(&req.category_id));
        }
        if let Some(active) = req.active {
            q = q.filter(work_plan::Column::Active.eq(active));
        }
        if let Some(after) = after {
            q = q.filter(work_plan::Column::Id.gt(after));
        }
        let mut rows = q.limit(size + 1).all(self.db()).await?;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let last = rows.last().map(|r| r.id.clone());
        let items = rows.iter().map(plan_of).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next_page_token: next_token(last.as_deref(), more, fp) })
    }

    pub async fn update_work_plan(&self, req: UpdateWorkPlanRequest) -> Result<WorkPlan> {
        let patch = req.plan.ok_or_else(|| Error::invalid("plan", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        validate::mask(&paths, UPDATABLE)?;
        check(&patch, Some(&paths))?;
        let plan = self
            .writer
            .write(async |txn| {
                let row = work_plan::Entity::find_by_id(patch.id.clone()).one(txn).await?.ok_or_else(|| Error::not_found("work plan", &patch.id))?;
                if row.version != patch.version {
                    return Err(Error::Aborted { kind: "work plan", id: row.id, current: row.version, expected: patch.version });
                }
                let mut p = plan_of(&row)?;
                for path in &paths {
                    match path.as_str() {
                        "name" => p.name = patch.name.trim().to_owned(),
                        "zone_id" => p.zone_id = patch.zone_id.clone(),
                        "category_id" => p.category_id = patch.category_id.clone(),
                        "priority" => p.priority = patch.priority,
                        "description" => p.description = patch.description.clone(),
                        "crew_id" => p.crew_id = patch.crew_id.clone(),
                        "recurrence" => p.recurrence = patch.recurrence.clone(),
                        "create_ahead" => p.create_ahead = patch.create_ahead,
                        "active" => p.active = Some(patch.active.unwrap_or(true)),
                        _ => {}
                    }
                }
                check_references(txn, &p).await?;
                let now = now_micros();
                let mut next_due = row.next_due_us;
                if paths.iter().any(|x| ["recurrence", "create_ahead", "active"].contains(&x.as_str())) {
                    let after_last = p.last_occurrence_time.as_ref().map(|t| micros(t) + 1).unwrap_or(i64::MIN);
                    next_due = schedule(&mut p, now.max(after_last));
                }
                self.save_plan(txn, &row, &p, next_due, now).await?;
                Ok((p, Vec::new()))
            })
            .await?;
        self.plans.notify_one();
        self.get_work_plan(&plan.id).await
    }

    async fn save_plan(&self, txn: &DatabaseTransaction, row: &work_plan::Model, p: &WorkPlan, next_due_us: Option<i64>, now: i64) -> Result<()> {
        let changes = work_plan::ActiveModel {
            category_id: Set(p.category_id.clone()),
            active: Set(p.active.unwrap_or(true)),
            next_due_us: Set(next_due_us),
            version: Set(row.version + 1),
            update_us: Set(now),
            body: Set(p.encode_to_vec()),
            ..Default::default()
        };
        store::save_versioned(txn, "work plan", &row.id, row.version, changes).await
    }

    /// Creates the tickets of due occurrences until `stop` turns true.
    pub async fn run_plans(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.create_due_occurrences().await {
                tracing::warn!(error = %e, "plan scheduler pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = self.plans.notified() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    async fn create_due_occurrences(&self) -> Result<()> {
        loop {
            let now = now_micros();
            let due: Vec<String> = work_plan::Entity::find()
                .select_only()
                .column(work_plan::Column::Id)
                .filter(work_plan::Column::Active.eq(true))
                .filter(work_plan::Column::NextDueUs.lte(now))
                .order_by_asc(work_plan::Column::NextDueUs)
                .limit(100)
                .into_tuple()
                .all(self.db())
                .await?;
            if due.is_empty() {
                return Ok(());
            }
            for id in due {
                match self.create_occurrence(&id, now).await {
                    Ok(()) | Err(Error::Aborted { .. }) => {}
                    Err(e) => {
                        tracing::warn!(plan = %id, error = %e, "occurrence not created; will retry");
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Creates the ticket of one plan's next occurrence and moves the plan to the one after.
    async fn create_occurrence(&self, id: &str, now: i64) -> Result<()> {
        self.writer
            .write(async |txn| {
                let Some(row) = work_plan::Entity::find_by_id(id.to_owned()).one(txn).await? else { return Ok(((), Vec::new())) };
                if !row.active || row.next_due_us.is_none_or(|due| due > now) {
                    return Ok(((), Vec::new()));
                }
                let mut p = plan_of(&row)?;
                let Some(occurrence) = p.next_occurrence_time else { return Ok(((), Vec::new())) };
                let origin_kind = if p.kind == WorkPlanKind::Patrol as i32 { TicketOriginKind::Patrol } else { TicketOriginKind::Inspection };
                let request = Ticket {
                    site_id: p.site_id.clone(),
                    zone_id: p.zone_id.clone(),
                    category_id: p.category_id.clone(),
                    priority: p.priority,
                    title: p.name.chars().take(200).collect(),
                    description: p.description.clone(),
                    origin: Some(TicketOrigin { kind: origin_kind as i32, plan_id: p.id.clone(), occurrence_time: Some(occurrence), ..Default::default() }),
                    ..Default::default()
                };
                let crew = Some(p.crew_id.as_str()).filter(|c| !c.is_empty());
                let corr = uuid::Uuid::now_v7().to_string();
                let events = match self.create_in(txn, request, crew, system("plan-scheduler"), &corr).await {
                    Ok((_, events)) => {
                        p.tickets_created += 1;
                        events
                    }
                    // The occurrence has its ticket already.
                    Err(Error::AlreadyExists { .. }) => Vec::new(),
                    // The site or category is gone: this occurrence is skipped, later ones follow.
                    Err(e @ (Error::NotFound { .. } | Error::FailedPrecondition { .. })) => {
                        tracing::warn!(plan = %p.id, error = %e, "occurrence skipped");
                        Vec::new()
                    }
                    Err(e) => return Err(e),
                };
                p.last_occurrence_time = Some(occurrence);
                let next_due = schedule(&mut p, micros(&occurrence) + 1);
                self.save_plan(txn, &row, &p, next_due, now).await?;
                Ok(((), events))
            })
            .await?;
        self.ticket_changed();
        Ok(())
    }
}
