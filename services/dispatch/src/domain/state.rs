//! The ticket life cycle: which command may run in which state, and where it leads.

use flywheel_proto::flywheel::dispatch::v1::TicketState;
use flywheel_runtime::Error;

/// A command that may change a ticket's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Assign,
    Reassign,
    Accept,
    Decline,
    Start,
    PutOnHold,
    Resume,
    Resolve,
    Close,
    Reopen,
    Cancel,
    Escalate,
    Update,
}

impl Command {
    pub const ALL: [Command; 13] = [
        Command::Assign,
        Command::Reassign,
        Command::Accept,
        Command::Decline,
        Command::Start,
        Command::PutOnHold,
        Command::Resume,
        Command::Resolve,
        Command::Close,
        Command::Reopen,
        Command::Cancel,
        Command::Escalate,
        Command::Update,
    ];

    fn verb(self) -> &'static str {
        match self {
            Command::Assign => "assigned",
            Command::Reassign => "reassigned",
            Command::Accept => "accepted",
            Command::Decline => "declined",
            Command::Start => "started",
            Command::PutOnHold => "put on hold",
            Command::Resume => "resumed",
            Command::Resolve => "resolved",
            Command::Close => "closed",
            Command::Reopen => "reopened",
            Command::Cancel => "cancelled",
            Command::Escalate => "escalated",
            Command::Update => "updated",
        }
    }
}

/// What the ticket looks like for the state machine.
#[derive(Clone, Copy, Debug)]
pub struct Position {
    pub state: TicketState,
    /// The state ON_HOLD returns to.
    pub held_from: TicketState,
    pub reopen_count: i32,
}

/// Whether a ticket in `state` is still being worked on (not RESOLVED, CLOSED or CANCELLED).
pub fn is_open(state: TicketState) -> bool {
    !matches!(state, TicketState::Resolved | TicketState::Closed | TicketState::Cancelled | TicketState::Unspecified)
}

/// Whether a crew holds a ticket in `state` (counts towards its capacity).
pub fn is_held(state: TicketState) -> bool {
    matches!(state, TicketState::Assigned | TicketState::Accepted | TicketState::InProgress | TicketState::OnHold)
}

/// The state waiting for dispatch: NEW in the first cycle, REOPENED after a reopen.
pub fn waiting_state(reopen_count: i32) -> TicketState {
    if reopen_count > 0 { TicketState::Reopened } else { TicketState::New }
}

/// The state `command` leads to from `at`, or None when the state does not allow it.
pub fn next(at: Position, command: Command) -> Option<TicketState> {
    use TicketState as S;
    let s = at.state;
    let to = match command {
        Command::Assign if matches!(s, S::New | S::Reopened) => S::Assigned,
        Command::Reassign if matches!(s, S::Assigned | S::Accepted | S::InProgress) => S::Assigned,
        Command::Accept if s == S::Assigned => S::Accepted,
        Command::Decline if s == S::Assigned => waiting_state(at.reopen_count),
        Command::Start if s == S::Accepted => S::InProgress,
        Command::PutOnHold if matches!(s, S::Accepted | S::InProgress) => S::OnHold,
        Command::Resume if s == S::OnHold && matches!(at.held_from, S::Accepted | S::InProgress) => at.held_from,
        Command::Resolve if s == S::InProgress => S::Resolved,
        Command::Close if s == S::Resolved => S::Closed,
        Command::Reopen if matches!(s, S::Resolved | S::Closed) => S::Reopened,
        Command::Cancel if is_open(s) => S::Cancelled,
        Command::Escalate | Command::Update if is_open(s) => s,
        _ => return None,
    };
    Some(to)
}

/// The short name of a state, e.g. "ON_HOLD".
pub fn state_name(state: TicketState) -> &'static str {
    state.as_str_name().trim_start_matches("TICKET_STATE_")
}

/// Like [`next`], with FAILED_PRECONDITION naming the current state when not allowed.
pub fn check(ticket_id: &str, at: Position, command: Command) -> Result<TicketState, Error> {
    next(at, command).ok_or_else(|| Error::FailedPrecondition {
        kind: "ticket",
        id: ticket_id.to_owned(),
        state: state_name(at.state).to_owned(),
        reason: format!("a ticket in state {} cannot be {}", state_name(at.state), command.verb()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketState as S;

    const STATES: [S; 9] =
        [S::New, S::Assigned, S::Accepted, S::InProgress, S::OnHold, S::Resolved, S::Closed, S::Reopened, S::Cancelled];

    /// Every legal (state, command) pair and where it leads; everything else is illegal.
    fn legal(state: S, command: Command, reopen_count: i32) -> Option<S> {
        use Command as C;
        let table: &[(S, C, S)] = &[
            (S::New, C::Assign, S::Assigned),
            (S::Reopened, C::Assign, S::Assigned),
            (S::Assigned, C::Reassign, S::Assigned),
            (S::Accepted, C::Reassign, S::Assigned),
            (S::InProgress, C::Reassign, S::Assigned),
            (S::Assigned, C::Accept, S::Accepted),
            (S::Accepted, C::Start, S::InProgress),
            (S::Accepted, C::PutOnHold, S::OnHold),
            (S::InProgress, C::PutOnHold, S::OnHold),
            (S::InProgress, C::Resolve, S::Resolved),
            (S::Resolved, C::Close, S::Closed),
            (S::Resolved, C::Reopen, S::Reopened),
            (S::Closed, C::Reopen, S::Reopened),
        ];
        if let Some((_, _, to)) = table.iter().find(|(s, c, _)| *s == state && *c == command) {
            return Some(*to);
        }
        let open = !matches!(state, S::Resolved | S::Closed | S::Cancelled);
        match command {
            C::Decline if state == S::Assigned => Some(if reopen_count > 0 { S::Reopened } else { S::New }),
            C::Resume if state == S::OnHold => Some(S::InProgress),
            C::Cancel if open => Some(S::Cancelled),
            C::Escalate | C::Update if open => Some(state),
            _ => None,
        }
    }

    #[test]
    fn every_state_and_command() {
        for state in STATES {
            for command in Command::ALL {
                for reopen_count in [0, 2] {
                    let at = Position { state, held_from: S::InProgress, reopen_count };
                    assert_eq!(next(at, command), legal(state, command, reopen_count), "{state:?} {command:?}");
                }
            }
        }
    }

    #[test]
    fn resume_returns_to_where_the_hold_began() {
        let at = |held_from| Position { state: S::OnHold, held_from, reopen_count: 0 };
        assert_eq!(next(at(S::Accepted), Command::Resume), Some(S::Accepted));
        assert_eq!(next(at(S::InProgress), Command::Resume), Some(S::InProgress));
        assert_eq!(next(at(S::New), Command::Resume), None);
    }

    #[test]
    fn illegal_transitions_name_the_current_state() {
        let at = Position { state: S::Cancelled, held_from: S::Unspecified, reopen_count: 0 };
        let status = tonic::Status::from(check("t1", at, Command::Resolve).unwrap_err());
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert!(status.message().contains("CANCELLED"), "{}", status.message());
    }

    #[test]
    fn held_and_open_states() {
        assert!(is_held(S::OnHold) && !is_held(S::New) && !is_held(S::Resolved));
        assert!(is_open(S::Reopened) && !is_open(S::Closed));
    }
}
