//! SLA clock arithmetic: deadlines of a cycle, pausing while ON_HOLD, and which warning or
//! breach is due next. Each mark fires once per cycle: its flag is set when it fires.

use super::time::{duration, duration_micros, micros, timestamp};
use flywheel_proto::flywheel::dispatch::v1::{SlaStage, TicketSla, TicketState};

/// Something the SLA clock announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    AcknowledgeBreach,
    Warning50,
    Warning75,
    ResolveBreach,
}

fn us(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().map(micros).unwrap_or(0)
}

fn dur(d: &Option<prost_types::Duration>) -> i64 {
    d.as_ref().map(duration_micros).unwrap_or(0)
}

/// A new cycle starting at `now_us` with these targets.
pub fn start_cycle(cycle: i32, now_us: i64, acknowledge_within_us: i64, resolve_within_us: i64) -> TicketSla {
    let mut sla = TicketSla {
        cycle,
        cycle_start_time: Some(timestamp(now_us)),
        paused_duration: Some(duration(0)),
        ..Default::default()
    };
    retarget(&mut sla, acknowledge_within_us, resolve_within_us);
    sla
}

/// New targets for the current cycle (a priority change): deadlines recomputed from its start.
pub fn retarget(sla: &mut TicketSla, acknowledge_within_us: i64, resolve_within_us: i64) {
    let start = us(&sla.cycle_start_time);
    sla.acknowledge_within = Some(duration(acknowledge_within_us));
    sla.resolve_within = Some(duration(resolve_within_us));
    sla.acknowledge_due_time = Some(timestamp(start + acknowledge_within_us));
    sla.resolve_due_time = Some(timestamp(start + resolve_within_us + dur(&sla.paused_duration)));
    sla.stage = stage(sla) as i32;
}

/// The resolve clock stops (ON_HOLD begins).
pub fn pause(sla: &mut TicketSla, now_us: i64) {
    sla.paused_since = Some(timestamp(now_us));
}

/// The resolve clock runs again; returns how long the hold lasted. The deadline moves by it.
pub fn resume(sla: &mut TicketSla, now_us: i64) -> i64 {
    let held = sla.paused_since.take().map(|t| (now_us - micros(&t)).max(0)).unwrap_or(0);
    let paused = dur(&sla.paused_duration) + held;
    sla.paused_duration = Some(duration(paused));
    sla.resolve_due_time = Some(timestamp(us(&sla.cycle_start_time) + dur(&sla.resolve_within) + paused));
    held
}

/// A crew accepted: (time to acknowledge, within the SLA, first acceptance of the cycle).
pub fn acknowledge(sla: &mut TicketSla, now_us: i64) -> (i64, bool, bool) {
    let first = sla.acknowledge_time.is_none();
    if first {
        sla.acknowledge_time = Some(timestamp(now_us));
        sla.acknowledged_within_sla = Some(now_us <= us(&sla.acknowledge_due_time));
    }
    (now_us - us(&sla.cycle_start_time), sla.acknowledged_within_sla.unwrap_or(false), first)
}

/// The timings of a resolution at `now_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub time_to_resolve_us: i64,
    pub elapsed_us: i64,
    pub paused_us: i64,
    pub within_sla: bool,
}

pub fn resolve(sla: &mut TicketSla, now_us: i64) -> Resolution {
    let elapsed_us = now_us - us(&sla.cycle_start_time);
    let paused_us = dur(&sla.paused_duration);
    let within_sla = now_us <= us(&sla.resolve_due_time);
    sla.resolved_within_sla = Some(within_sla);
    sla.stage = stage(sla) as i32;
    Resolution { time_to_resolve_us: elapsed_us - paused_us, elapsed_us, paused_us, within_sla }
}

/// When `mark` falls due in this cycle.
fn due(sla: &TicketSla, mark: Mark) -> i64 {
    let start = us(&sla.cycle_start_time);
    let window = dur(&sla.resolve_within);
    let paused = dur(&sla.paused_duration);
    match mark {
        Mark::AcknowledgeBreach => us(&sla.acknowledge_due_time),
        Mark::Warning50 => start + window / 2 + paused,
        Mark::Warning75 => start + window * 3 / 4 + paused,
        Mark::ResolveBreach => us(&sla.resolve_due_time),
    }
}

fn fired(sla: &TicketSla, mark: Mark) -> bool {
    match mark {
        Mark::AcknowledgeBreach => sla.acknowledge_breached || sla.acknowledge_time.is_some(),
        Mark::Warning50 => sla.warning_50_fired,
        Mark::Warning75 => sla.warning_75_fired,
        Mark::ResolveBreach => sla.resolve_breached,
    }
}

/// The next mark still to fire and when, for a ticket in `state`; None when no clock runs
/// (resolved, closed, cancelled) or only the paused resolve clock is left.
pub fn next_mark(sla: &TicketSla, state: TicketState) -> Option<(Mark, i64)> {
    if !super::state::is_open(state) || sla.cycle == 0 {
        return None;
    }
    let paused = state == TicketState::OnHold;
    [Mark::AcknowledgeBreach, Mark::Warning50, Mark::Warning75, Mark::ResolveBreach]
        .into_iter()
        .filter(|m| !fired(sla, *m))
        .filter(|m| !(paused && *m != Mark::AcknowledgeBreach))
        .map(|m| (m, due(sla, m)))
        .min_by_key(|(m, at)| (*at, *m as u8))
}

/// Records that `mark` fired.
pub fn fire(sla: &mut TicketSla, mark: Mark) {
    match mark {
        Mark::AcknowledgeBreach => sla.acknowledge_breached = true,
        Mark::Warning50 => sla.warning_50_fired = true,
        Mark::Warning75 => sla.warning_75_fired = true,
        Mark::ResolveBreach => sla.resolve_breached = true,
    }
    sla.stage = stage(sla) as i32;
}

/// Active (not paused) time left until the resolve deadline at `now_us`.
pub fn remaining(sla: &TicketSla, now_us: i64) -> i64 {
    us(&sla.resolve_due_time) - now_us
}

/// How far the resolve clock has run, from the flags.
pub fn stage(sla: &TicketSla) -> SlaStage {
    if sla.resolve_breached || sla.resolved_within_sla == Some(false) {
        SlaStage::Breached
    } else if sla.resolved_within_sla == Some(true) {
        SlaStage::OnTrack
    } else if sla.warning_75_fired {
        SlaStage::Warning75
    } else if sla.warning_50_fired {
        SlaStage::Warning50
    } else {
        SlaStage::OnTrack
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketState as S;

    const H: i64 = 3_600_000_000;

    fn sla() -> TicketSla {
        start_cycle(1, 0, 2 * H, 8 * H)
    }

    /// Fires every mark due by `now` and returns them in order.
    fn fire_due(sla: &mut TicketSla, state: S, now: i64) -> Vec<(Mark, i64)> {
        let mut out = vec![];
        while let Some((m, at)) = next_mark(sla, state).filter(|(_, at)| *at <= now) {
            fire(sla, m);
            out.push((m, at));
        }
        out
    }

    #[test]
    fn marks_come_in_order_once_each() {
        let mut s = sla();
        assert_eq!(next_mark(&s, S::Assigned), Some((Mark::AcknowledgeBreach, 2 * H)));
        assert_eq!(
            fire_due(&mut s, S::Assigned, 10 * H),
            [(Mark::AcknowledgeBreach, 2 * H), (Mark::Warning50, 4 * H), (Mark::Warning75, 6 * H), (Mark::ResolveBreach, 8 * H)]
        );
        assert_eq!(next_mark(&s, S::Assigned), None);
        assert_eq!(stage(&s), SlaStage::Breached);
    }

    #[test]
    fn acceptance_stops_the_acknowledge_clock() {
        let mut s = sla();
        assert_eq!(acknowledge(&mut s, H), (H, true, true));
        assert_eq!(acknowledge(&mut s, 3 * H), (3 * H, true, false));
        assert_eq!(next_mark(&s, S::Accepted), Some((Mark::Warning50, 4 * H)));
    }

    #[test]
    fn a_hold_pauses_the_resolve_clock_and_moves_the_deadline() {
        let mut s = sla();
        acknowledge(&mut s, H);
        fire_due(&mut s, S::Accepted, 4 * H);
        pause(&mut s, 5 * H);
        assert_eq!(next_mark(&s, S::OnHold), None, "nothing fires while on hold");
        assert_eq!(resume(&mut s, 7 * H), 2 * H);
        assert_eq!(micros(s.resolve_due_time.as_ref().unwrap()), 10 * H);
        assert_eq!(next_mark(&s, S::InProgress), Some((Mark::Warning75, 8 * H)));
        let r = resolve(&mut s, 9 * H);
        assert_eq!(r, Resolution { time_to_resolve_us: 7 * H, elapsed_us: 9 * H, paused_us: 2 * H, within_sla: true });
        assert_eq!(next_mark(&s, S::Resolved), None);
    }

    #[test]
    fn retargeting_recomputes_from_the_cycle_start() {
        let mut s = start_cycle(1, 100, 2 * H, 8 * H);
        retarget(&mut s, H, 4 * H);
        assert_eq!(micros(s.acknowledge_due_time.as_ref().unwrap()), 100 + H);
        assert_eq!(micros(s.resolve_due_time.as_ref().unwrap()), 100 + 4 * H);
    }

    #[test]
    fn late_resolution_is_a_breach() {
        let mut s = sla();
        assert!(!resolve(&mut s, 9 * H).within_sla);
        assert_eq!(stage(&s), SlaStage::Breached);
    }
}
