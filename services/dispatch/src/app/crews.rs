//! Crews: create, read, list, update, deactivate and activate. Every change moves the crew's
//! revision, so every replica's index picks it up, and makes unassignable tickets retry.

use super::change::{Cause, Change};
use super::{new_id, next_token, paging, Dispatch, Page};
use crate::convert;
use crate::domain::{duty, validate};
use crate::events;
use crate::store::entities::{crew, ticket};
use crate::store::{self, Kind};
use flywheel_proto::flywheel::dispatch::v1::{self as pb, *};
use flywheel_proto::flywheel::registry::v1::{Region, Site};
use flywheel_runtime::db::now_micros;
use flywheel_runtime::events::OutgoingEvent;
use flywheel_runtime::{pagination, Error, Result, Violations};
use prost::Message;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

/// The fields of a crew kept in its stored body (the rest are columns or computed).
fn config_body(c: &Crew) -> Vec<u8> {
    Crew {
        id: String::new(),
        code: String::new(),
        active: false,
        capacity: 0,
        open_ticket_count: 0,
        last_assignment_time: None,
        on_shift: false,
        on_call: false,
        version: 0,
        create_time: None,
        update_time: None,
        ..c.clone()
    }
    .encode_to_vec()
}

fn inactive(id: &str, state: &str, reason: &str) -> Error {
    Error::FailedPrecondition { kind: "crew", id: id.to_owned(), state: state.into(), reason: reason.into() }
}

impl Dispatch {
    pub async fn create_crew(&self, req: CreateCrewRequest, _cause: Cause, corr: &str) -> Result<Crew> {
        let c = req.crew.ok_or_else(|| Error::invalid("crew", "is required"))?;
        validate::crew(&c, None)?;
        let id = self
            .writer
            .write_once("CreateCrew", &req.request_id, async |txn| {
                if crew::Entity::find().filter(crew::Column::Code.eq(&c.code)).one(txn).await?.is_some() {
                    return Err(Error::AlreadyExists { kind: "crew", field: "code", value: c.code.clone() });
                }
                check_coverage(txn, c.coverage.as_ref()).await?;
                let id = new_id();
                check_supervisor(txn, &id, &c.supervisor_crew_id).await?;
                let now = now_micros();
                let row = crew::Model {
                    id: id.clone(),
                    code: c.code.clone(),
                    active: true,
                    version: 1,
                    rev: store::next_crew_rev(txn).await?,
                    capacity: c.capacity,
                    open_ticket_count: 0,
                    last_assignment_us: None,
                    create_us: now,
                    update_us: now,
                    body: config_body(&Crew { name: c.name.trim().to_owned(), ..c.clone() }),
                };
                match crew::Entity::insert(crew::ActiveModel::from(row.clone())).exec_without_returning(txn).await {
                    Err(e) if flywheel_runtime::error::is_unique_violation(&e) => {
                        return Err(Error::AlreadyExists { kind: "crew", field: "code", value: c.code.clone() });
                    }
                    other => other?,
                };
                let created = convert::crew(&row, now)?;
                let event = events::crew("created", &created, corr, &pb::CrewCreated { crew: Some(created.clone()) });
                Ok((id, vec![event]))
            })
            .await?;
        self.crews_changed();
        self.get_crew(&id).await
    }

    pub async fn get_crew(&self, id: &str) -> Result<Crew> {
        let mut v = Violations::new();
        validate::id(&mut v, "id", id);
        v.finish(())?;
        convert::crew(&store::crew_row(self.db(), id).await?, now_micros())
    }

    pub async fn list_crews(&self, req: ListCrewsRequest) -> Result<Page<Crew>> {
        let filters = ListCrewsRequest { page_size: 0, page_token: String::new(), ..req.clone() };
        let fp = pagination::fingerprint(&[&format!("{filters:?}")]);
        let (size, after) = paging(req.page_size, &req.page_token, fp)?;
        self.index.refresh(self.db()).await?;
        let region_path = match req.covers_site_id.as_str() {
            "" => Vec::new(),
            site => store::replica::<Site>(self.db(), Kind::Site, site).await?.map(|(_, s)| s.region_path).unwrap_or_default(),
        };
        let now = now_micros();
        let keep = |c: &Crew| {
            let cov = c.coverage.clone().unwrap_or_default();
            let covers = req.covers_site_id.is_empty()
                || cov.site_ids.contains(&req.covers_site_id)
                || region_path.iter().any(|r| cov.region_ids.contains(r));
            let (on_shift, on_call) = duty::duty(c, now);
            covers
                && req.skills.iter().all(|s| c.skills.contains(s))
                && req.active.is_none_or(|a| a == c.active)
                && (req.member_id.is_empty() || c.members.iter().any(|m| m.member_id == req.member_id))
                && req.on_duty.is_none_or(|d| d == (on_shift || on_call))
        };
        let mut page = self.index.scan(after.as_deref(), size as usize, keep);
        let more = page.len() > size as usize;
        page.truncate(size as usize);
        let last = page.last().map(|c| c.id.clone());
        let ids: Vec<String> = page.iter().map(|c| c.id.clone()).collect();
        let rows = crew::Entity::find().filter(crew::Column::Id.is_in(ids)).all(self.db()).await?;
        let mut items = rows.iter().map(|r| convert::crew(r, now)).collect::<Result<Vec<_>>>()?;
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Page { items, next_page_token: next_token(last.as_deref(), more, fp) })
    }

    pub async fn update_crew(&self, req: UpdateCrewRequest, corr: &str) -> Result<Crew> {
        let patch = req.crew.ok_or_else(|| Error::invalid("crew", "is required"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        validate::mask(&paths, validate::CREW_UPDATABLE)?;
        validate::crew(&patch, Some(&paths))?;
        self.change_crew(&patch.id, patch.version, async |txn, row, c| {
            for p in &paths {
                match p.as_str() {
                    "name" => c.name = patch.name.trim().to_owned(),
                    "description" => c.description = patch.description.clone(),
                    "skills" => c.skills = patch.skills.clone(),
                    "coverage" => {
                        check_coverage(txn, patch.coverage.as_ref()).await?;
                        c.coverage = patch.coverage.clone();
                    }
                    "base_location" => c.base_location = patch.base_location,
                    "capacity" => row.capacity = Set(patch.capacity),
                    "time_zone" => c.time_zone = patch.time_zone.clone(),
                    "shifts" => c.shifts = patch.shifts.clone(),
                    "on_call_periods" => c.on_call_periods = patch.on_call_periods.clone(),
                    "members" => c.members = patch.members.clone(),
                    "supervisor_crew_id" => {
                        check_supervisor(txn, &c.id, &patch.supervisor_crew_id).await?;
                        c.supervisor_crew_id = patch.supervisor_crew_id.clone();
                    }
                    _ => {}
                }
            }
            Ok(Redispatched::default())
        }, |crew, _| events::crew("updated", &crew, corr, &pb::CrewUpdated { crew: Some(crew.clone()), changed_fields: paths.clone() }))
        .await
    }

    pub async fn deactivate_crew(&self, req: DeactivateCrewRequest, corr: &str) -> Result<Crew> {
        let mut v = Violations::new();
        validate::optional_text(&mut v, "reason", &req.reason, 500);
        v.finish(())?;
        self.change_crew(&req.id, req.version, async |txn, row, c| {
            if !c.active {
                return Err(inactive(&c.id, "INACTIVE", "the crew is already inactive"));
            }
            row.active = Set(false);
            if req.redispatch_open_tickets {
                self.redispatch_crew_tickets(txn, &c.id).await
            } else {
                Ok(Redispatched::default())
            }
        }, |crew, tickets| {
            let msg = pb::CrewDeactivated { crew: Some(crew.clone()), reason: req.reason.clone(), redispatched_ticket_ids: tickets.to_vec() };
            events::crew("deactivated", &crew, corr, &msg)
        })
        .await
    }

    pub async fn activate_crew(&self, req: ActivateCrewRequest, corr: &str) -> Result<Crew> {
        self.change_crew(&req.id, req.version, async |_, row, c| {
            if c.active {
                return Err(inactive(&c.id, "ACTIVE", "the crew is already active"));
            }
            row.active = Set(true);
            Ok(Redispatched::default())
        }, |crew, _| events::crew("activated", &crew, corr, &pb::CrewActivated { crew: Some(crew.clone()) }))
        .await
    }

    /// Loads a crew at `expected` version, lets `apply` change its config and columns, saves it
    /// with a new revision and publishes `flywheel.dispatch.crew.<event>`.
    async fn change_crew(
        &self,
        id: &str,
        expected: i64,
        apply: impl AsyncFnOnce(&DatabaseTransaction, &mut crew::ActiveModel, &mut Crew) -> Result<Redispatched>,
        event: impl FnOnce(Crew, &[String]) -> OutgoingEvent,
    ) -> Result<Crew> {
        let crew = self
            .writer
            .write(async |txn| {
                let row = store::crew_row(txn, id).await?;
                if row.version != expected {
                    return Err(Error::Aborted { kind: "crew", id: id.to_owned(), current: row.version, expected });
                }
                let mut config = convert::crew_config(&row)?;
                let now = now_micros();
                let mut changes = crew::ActiveModel {
                    version: Set(row.version + 1),
                    rev: Set(store::next_crew_rev(txn).await?),
                    update_us: Set(now),
                    ..Default::default()
                };
                let redispatched = apply(txn, &mut changes, &mut config).await?;
                changes.body = Set(config_body(&config));
                store::save_versioned(txn, "crew", id, expected, changes).await?;
                let crew = convert::crew(&store::crew_row(txn, id).await?, now)?;
                let mut events = redispatched.events;
                events.push(event(crew.clone(), &redispatched.tickets));
                Ok(((crew, !redispatched.tickets.is_empty()), events))
            })
            .await?;
        let (crew, tickets_changed) = crew;
        if tickets_changed {
            self.ticket_changed();
        }
        self.crews_changed();
        Ok(crew)
    }

    /// Crews changed: every replica's index refreshes on its next use; waiting tickets retry.
    fn crews_changed(&self) {
        self.retry.notify_one();
    }

    /// Re-dispatches the ASSIGNED and ACCEPTED tickets of a crew being taken out of dispatch,
    /// in its transaction; a ticket no other crew can take stays with it.
    async fn redispatch_crew_tickets(&self, txn: &DatabaseTransaction, crew_id: &str) -> Result<Redispatched> {
        let rows = ticket::Entity::find()
            .filter(ticket::Column::CrewId.eq(crew_id))
            .filter(ticket::Column::State.is_in([TicketState::Assigned as i32, TicketState::Accepted as i32]))
            .all(txn)
            .await?;
        let mut out = Redispatched::default();
        for row in rows {
            let mut ch = Change::of(&row, None, super::system("auto-dispatch"), now_micros())?;
            if self.auto_dispatch(txn, &mut ch, DispatchTrigger::Reassign, &[crew_id.to_owned()]).await? {
                let (t, events) = ch.commit(txn).await?;
                out.tickets.push(t.id);
                out.events.extend(events);
            }
        }
        Ok(out)
    }
}

/// Tickets moved to other crews together with a crew change, and their events.
#[derive(Default)]
struct Redispatched {
    tickets: Vec<String>,
    events: Vec<OutgoingEvent>,
}

/// Coverage must name known, active sites and regions.
async fn check_coverage(txn: &DatabaseTransaction, coverage: Option<&CrewCoverage>) -> Result<()> {
    let cov = coverage.cloned().unwrap_or_default();
    for s in &cov.site_ids {
        store::active_replica::<Site>(txn, Kind::Site, s).await?;
    }
    for r in &cov.region_ids {
        store::active_replica::<Region>(txn, Kind::Region, r).await?;
    }
    Ok(())
}

/// A supervisor must be another active crew, and the chain above it must not come back to `id`.
async fn check_supervisor(txn: &DatabaseTransaction, id: &str, supervisor: &str) -> Result<()> {
    let mut next = supervisor.to_owned();
    let mut first = true;
    while !next.is_empty() {
        if next == id {
            return Err(inactive(id, "ACTIVE", "the supervisor would be the crew itself or form a cycle"));
        }
        let row = store::crew_row(txn, &next).await?;
        if first && !row.active {
            return Err(inactive(&row.id, "INACTIVE", "the supervisor crew is inactive"));
        }
        first = false;
        next = convert::crew_config(&row)?.supervisor_crew_id;
    }
    Ok(())
}
