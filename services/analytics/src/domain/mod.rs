//! Pure analytics rules, no I/O: time buckets in an operator's zone, KPI maths over mergeable
//! facts, league and happiness scores, great-circle distances.

pub mod geo;
pub mod kpi;
pub mod score;
pub mod sketch;
pub mod time;
pub mod varint;
