//! WatchTickets: a live feed tailing the ticket change log. The cursor is the log position
//! (`ticket_change.seq`), assigned in commit order, so resuming after a cursor gives every later
//! change exactly once. The log lives in the database, so a client sees changes made by any
//! replica; local commits wake the tail at once, others are seen within a poll interval.

use super::Dispatch;
use crate::store::entities::{ticket, ticket_change};
use crate::store::{self, Kind};
use flywheel_proto::flywheel::dispatch::v1::watch_tickets_response::Item;
use flywheel_proto::flywheel::dispatch::v1::*;
use flywheel_proto::flywheel::registry::v1::{Region, Site};
use flywheel_runtime::{Error, Result, Violations};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const POLL: Duration = Duration::from_millis(250);
const HEARTBEAT: Duration = Duration::from_secs(15);
const BATCH: u64 = 500;

/// What a watcher wants to see.
#[derive(Clone, Debug)]
struct Filter {
    crew_id: String,
    site_id: String,
    region: String,
    states: Vec<i32>,
}

impl Filter {
    fn matches(&self, crew: &str, site: &str, region_path: &str, state: i32) -> bool {
        (self.crew_id.is_empty() || self.crew_id == crew)
            && (self.site_id.is_empty() || self.site_id == site)
            && (self.region.is_empty() || region_path.contains(&self.region))
            && (self.states.is_empty() || self.states.contains(&state))
    }

    /// A change is sent when the ticket matched before or matches after it.
    fn relevance(&self, c: &ticket_change::Model) -> Option<bool> {
        let before = self.matches(&c.crew_before, &c.site_id, &c.region_path, c.state_before);
        let after = self.matches(&c.crew_after, &c.site_id, &c.region_path, c.state_after);
        (before || after).then_some(after)
    }
}

fn cursor(seq: i64) -> String {
    seq.to_string()
}

pub type Feed = mpsc::Receiver<std::result::Result<WatchTicketsResponse, tonic::Status>>;

impl Dispatch {
    /// Checks the request and starts the feed.
    pub async fn watch_tickets(&self, req: WatchTicketsRequest, watcher: &Actor) -> Result<Feed> {
        let start = match req.cursor.as_str() {
            "" => None,
            c => Some(c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| Error::invalid("cursor", "not a cursor from this feed"))?),
        };
        let mut v = Violations::new();
        for (i, s) in req.states.iter().enumerate() {
            v.check(TicketState::try_from(*s).is_ok_and(|s| s != TicketState::Unspecified), format!("states[{i}]"), "must be a ticket state");
        }
        v.finish(())?;
        if watcher.kind == ActorKind::CrewMember as i32 && req.crew_id != watcher.crew_id {
            return Err(Error::PermissionDenied("a crew member may watch only their own crew's tickets".into()));
        }
        if !req.crew_id.is_empty() {
            store::crew_row(self.db(), &req.crew_id).await?;
        }
        if !req.site_id.is_empty() && store::replica::<Site>(self.db(), Kind::Site, &req.site_id).await?.is_none() {
            return Err(Error::not_found("site", &req.site_id));
        }
        if !req.region_id.is_empty() && store::replica::<Region>(self.db(), Kind::Region, &req.region_id).await?.is_none() {
            return Err(Error::not_found("region", &req.region_id));
        }
        let filter = Filter {
            crew_id: req.crew_id.clone(),
            site_id: req.site_id.clone(),
            region: if req.region_id.is_empty() { String::new() } else { format!("/{}/", req.region_id) },
            states: req.states.clone(),
        };
        let (tx, rx) = mpsc::channel(64);
        let (position, snapshot) = match start {
            Some(seq) => (seq, Vec::new()),
            None => self.read_start(&filter, req.initial_snapshot).await?,
        };
        let me = self.clone();
        tokio::spawn(async move {
            let mut feed = Tail { dispatch: me, filter, position, tx, last_sent: Instant::now() };
            if feed.run(snapshot, start.is_none() && req.initial_snapshot).await.is_err() {
                tracing::debug!("watcher left");
            }
        });
        Ok(rx)
    }

    /// The current end of the log and, when asked, the tickets matching now, read together.
    async fn read_start(&self, filter: &Filter, snapshot: bool) -> Result<(i64, Vec<Ticket>)> {
        let txn = self.db().begin().await?;
        let position: Option<Option<i64>> = ticket_change::Entity::find()
            .select_only()
            .column_as(ticket_change::Column::Seq.max(), "max")
            .into_tuple()
            .one(&txn)
            .await?;
        let mut tickets = Vec::new();
        if snapshot {
            let mut q = ticket::Entity::find().order_by_asc(ticket::Column::Id);
            if !filter.crew_id.is_empty() {
                q = q.filter(ticket::Column::CrewId.eq(&filter.crew_id));
            }
            if !filter.site_id.is_empty() {
                q = q.filter(ticket::Column::SiteId.eq(&filter.site_id));
            }
            if !filter.region.is_empty() {
                q = q.filter(ticket::Column::RegionPath.contains(&filter.region));
            }
            if !filter.states.is_empty() {
                q = q.filter(ticket::Column::State.is_in(filter.states.clone()));
            }
            for row in q.all(&txn).await? {
                tickets.push(store::body::<Ticket>(&row.body)?);
            }
        }
        txn.commit().await?;
        Ok((position.flatten().unwrap_or(0), tickets))
    }
}

struct Tail {
    dispatch: Dispatch,
    filter: Filter,
    position: i64,
    tx: mpsc::Sender<std::result::Result<WatchTicketsResponse, tonic::Status>>,
    last_sent: Instant,
}

/// The watcher has gone.
struct Gone;

impl Tail {
    async fn send(&mut self, item: Item) -> std::result::Result<(), Gone> {
        let msg = WatchTicketsResponse { cursor: cursor(self.position), item: Some(item) };
        self.tx.send(Ok(msg)).await.map_err(|_| Gone)?;
        self.last_sent = Instant::now();
        Ok(())
    }

    async fn run(&mut self, snapshot: Vec<Ticket>, with_snapshot: bool) -> std::result::Result<(), Gone> {
        if with_snapshot {
            let count = snapshot.len() as i32;
            for t in snapshot {
                self.send(Item::Snapshot(t)).await?;
            }
            self.send(Item::SnapshotComplete(WatchSnapshotComplete { ticket_count: count })).await?;
        }
        loop {
            let wake = self.dispatch.changes.clone();
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let read = self.read_more().await;
            match read {
                Ok(true) => continue,
                Ok(false) => {}
                Err(_) if self.dispatch.stopping().await => {
                    let gone = tonic::Status::unavailable("dispatch is shutting down; reconnect with the last cursor");
                    let _ = self.tx.send(Err(gone)).await;
                    return Err(Gone);
                }
                Err(e) => tracing::warn!(error = %e, "watch feed read failed; retrying"),
            }
            if self.last_sent.elapsed() >= HEARTBEAT {
                let now = crate::domain::time::timestamp(flywheel_runtime::db::now_micros());
                self.send(Item::Heartbeat(WatchHeartbeat { server_time: Some(now) })).await?;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = self.tx.closed() => return Err(Gone),
            }
        }
    }

    /// Sends the changes after the position; whether a full batch was read (more may follow).
    async fn read_more(&mut self) -> Result<bool> {
        let rows = ticket_change::Entity::find()
            .filter(ticket_change::Column::Seq.gt(self.position))
            .order_by_asc(ticket_change::Column::Seq)
            .limit(BATCH)
            .all(self.dispatch.db())
            .await?;
        let full = rows.len() as u64 == BATCH;
        for row in rows {
            self.position = row.seq;
            if let Some(matches_filter) = self.filter.relevance(&row) {
                let change = TicketChange {
                    ticket: Some(store::body(&row.ticket)?),
                    transition: Some(store::body(&row.transition)?),
                    matches_filter,
                };
                if self.send(Item::Change(change)).await.is_err() {
                    // The watcher left; the loop notices the closed channel.
                    return Ok(false);
                }
            }
        }
        Ok(full)
    }
}
