//! Dispatch's events: subjects and messages, built from the state after each change.

use flywheel_proto::flywheel::dispatch::v1::{self as pb, Crew, Ticket, TicketTransition};
use flywheel_runtime::events::OutgoingEvent;

pub const SERVICE: &str = "dispatch";

const TICKET: &str = "flywheel.dispatch.ticket";
const CREW: &str = "flywheel.dispatch.crew";

/// A ticket event: `event` after `flywheel.dispatch.ticket.`, with the ticket's correlation id.
pub fn ticket(event: &str, t: &Ticket, message: &impl prost::Message) -> OutgoingEvent {
    OutgoingEvent::new(SERVICE, format!("{TICKET}.{event}"), &t.id, &t.correlation_id, message)
}

pub fn crew(event: &str, c: &Crew, corr: &str, message: &impl prost::Message) -> OutgoingEvent {
    OutgoingEvent::new(SERVICE, format!("{CREW}.{event}"), &c.id, corr, message)
}

/// The event for a history entry that carries nothing beyond the ticket and the entry.
pub fn plain(action: pb::TicketAction, t: &Ticket, tr: &TicketTransition) -> Option<OutgoingEvent> {
    use pb::TicketAction as A;
    let (ticket, transition) = (Some(t.clone()), Some(tr.clone()));
    let crew_id = t.crew_id.clone();
    Some(match action {
        A::Create => self::ticket("created", t, &pb::TicketCreated { ticket, transition }),
        A::Start => self::ticket("started", t, &pb::TicketStarted { ticket, transition, crew_id }),
        A::Update => {
            let changed_fields = tr.changed_fields.clone();
            self::ticket("updated", t, &pb::TicketUpdated { ticket, transition, changed_fields })
        }
        _ => return None,
    })
}
