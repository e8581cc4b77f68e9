//! The events dispatch consumes: the registry's (its replica of regions, sites, zones, assets and
//! categories) and feedback's (reports that need field work, reopen requests).

use crate::app::Dispatch;
use crate::store::{self, Kind};
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::events::consumer::{ConsumerSpec, EventHandler, HandlerError};
use flywheel_runtime::events::{outbox, streams, IncomingEvent, OutgoingEvent};
use flywheel_runtime::{Config, Error};
use prost::Message;
use sea_orm::DatabaseTransaction;

pub fn registry_spec(config: &Config) -> ConsumerSpec {
    ConsumerSpec {
        durable: "dispatch".into(),
        stream: streams::REGISTRY.name,
        filter_subjects: vec!["flywheel.registry.>".into()],
        max_deliver: config.event_max_deliver,
    }
}

pub fn feedback_spec(config: &Config) -> ConsumerSpec {
    ConsumerSpec {
        durable: "dispatch".into(),
        stream: streams::FEEDBACK.name,
        filter_subjects: vec!["flywheel.feedback.report.>".into()],
        max_deliver: config.event_max_deliver,
    }
}

fn internal(e: Error) -> HandlerError {
    match e {
        // The replica may still lag behind the registry's events: try again later.
        Error::NotFound { .. } | Error::Unavailable(_) | Error::Internal(_) => HandlerError::Transient(e.into()),
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
        let (kind, id, status, version, body) = match name {
            "region.created" | "region.updated" | "region.retired" => {
                let r = region(name, event)?;
                (Kind::Region, r.id.clone(), r.status, r.version, r.encode_to_vec())
            }
            "site.registered" | "site.updated" | "site.retired" => {
                let s = site(name, event)?;
                (Kind::Site, s.id.clone(), s.status, s.version, s.encode_to_vec())
            }
            "zone.created" | "zone.updated" | "zone.retired" => {
                let z = zone(name, event)?;
                (Kind::Zone, z.id.clone(), z.status, z.version, z.encode_to_vec())
            }
            "asset.registered" | "asset.updated" | "asset.retired" => {
                let a = asset(name, event)?;
                (Kind::Asset, a.id.clone(), a.status, a.version, a.encode_to_vec())
            }
            "category.defined" | "category.changed" | "category.retired" => {
                let c = category(name, event)?;
                (Kind::Category, c.id.clone(), c.status, c.version, c.encode_to_vec())
            }
            _ => return Ok(()),
        };
        if id.is_empty() {
            return Err(HandlerError::Permanent(anyhow::anyhow!("{} event without an id", kind.as_str())));
        }
        store::put_replica(txn, kind, &id, status, version, body).await.map_err(internal)?;
        // New sites and regions may bring coverage that unassignable tickets were waiting for.
        self.dispatch.retry.notify_one();
        Ok(())
    }
}

fn region(name: &str, e: &IncomingEvent) -> Result<registry::Region, HandlerError> {
    Ok(match name {
        "region.created" => e.decode::<registry::RegionCreated>()?.region,
        "region.updated" => e.decode::<registry::RegionUpdated>()?.region,
        _ => e.decode::<registry::RegionRetired>()?.region,
    }
    .unwrap_or_default())
}

fn site(name: &str, e: &IncomingEvent) -> Result<registry::Site, HandlerError> {
    Ok(match name {
        "site.registered" => e.decode::<registry::SiteRegistered>()?.site,
        "site.updated" => e.decode::<registry::SiteUpdated>()?.site,
        _ => e.decode::<registry::SiteRetired>()?.site,
    }
    .unwrap_or_default())
}

fn zone(name: &str, e: &IncomingEvent) -> Result<registry::Zone, HandlerError> {
    Ok(match name {
        "zone.created" => e.decode::<registry::ZoneCreated>()?.zone,
        "zone.updated" => e.decode::<registry::ZoneUpdated>()?.zone,
        _ => e.decode::<registry::ZoneRetired>()?.zone,
    }
    .unwrap_or_default())
}

fn asset(name: &str, e: &IncomingEvent) -> Result<registry::Asset, HandlerError> {
    Ok(match name {
        "asset.registered" => e.decode::<registry::AssetRegistered>()?.asset,
        "asset.updated" => e.decode::<registry::AssetUpdated>()?.asset,
        _ => e.decode::<registry::AssetRetired>()?.asset,
    }
    .unwrap_or_default())
}

fn category(name: &str, e: &IncomingEvent) -> Result<registry::Category, HandlerError> {
    Ok(match name {
        "category.defined" => e.decode::<registry::CategoryDefined>()?.category,
        "category.changed" => e.decode::<registry::CategoryChanged>()?.category,
        _ => e.decode::<registry::CategoryRetired>()?.category,
    }
    .unwrap_or_default())
}

/// Turns feedback's reports into tickets and reopen requests into reopens.
pub struct FeedbackIntake {
    pub dispatch: Dispatch,
}

#[async_trait::async_trait]
impl EventHandler for FeedbackIntake {
    async fn handle(&self, txn: &DatabaseTransaction, event: &IncomingEvent) -> Result<(), HandlerError> {
        let events: Vec<OutgoingEvent> = match event.subject.as_str() {
            "flywheel.feedback.report.submitted" => {
                let report = event.decode::<feedback::ReportSubmitted>()?.report.unwrap_or_default();
                self.dispatch.ticket_for_report(txn, report, &event.correlation_id).await.map_err(internal)?
            }
            "flywheel.feedback.report.classified" => {
                let report = event.decode::<feedback::ReportClassified>()?.report.unwrap_or_default();
                self.dispatch.ticket_for_report(txn, report, &event.correlation_id).await.map_err(internal)?
            }
            "flywheel.feedback.report.reopen_requested" => {
                let m = event.decode::<feedback::ReportReopenRequested>()?;
                let report = m.report.unwrap_or_default();
                let note = format!("resident rated {} (survey round {})", m.rating, m.survey_round);
                self.dispatch.reopen_for_report(txn, &m.ticket_id, &report.id, &note).await.map_err(internal)?
            }
            _ => Vec::new(),
        };
        for e in &events {
            outbox::enqueue(txn, e).await?;
        }
        Ok(())
    }
}
