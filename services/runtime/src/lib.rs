//! What every Flywheel service does the same way, written once: configuration, telemetry, the
//! database and migrations, events (outbox relay, idempotent consumers), gRPC serving, metrics,
//! request ids, pagination, authentication and per-method authorization of gRPC callers, and the
//! mapping of domain errors to gRPC statuses.

/// The allocator of every process that runs Flywheel: under load glibc's malloc and free took
/// about a quarter of a service's CPU (docs/performance.md, "Sixth round"); mimalloc's per-thread
/// heaps do the same work for a fraction of it. Its 2.x line (the crate's `v2`): the 3.x default
/// held a third more memory at peak for no more speed ("Eleventh round").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod auth;
pub mod bulk;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod geo;
pub mod grpc;
pub mod host;
pub mod http;
pub mod idempotency;
pub mod migrations;
pub mod pagination;
pub mod shutdown;
pub mod telemetry;
pub mod writer;

pub use config::{Config, ServiceInfo};
pub use error::{Error, Result, Violations};
