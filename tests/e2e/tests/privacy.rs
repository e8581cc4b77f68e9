//! A resident's contact details stay inside feedback: after a whole cycle, no event on any stream,
//! no other service's answer and no container's log holds them — while feedback still returns
//! them to the staff who asks, so the probe was really stored.

use flywheel_e2e::world::*;
use flywheel_e2e::{Stack, eventually};
use flywheel_proto::flywheel::analytics::v1 as analytics;
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use futures::StreamExt;

const NAME: &str = "Probe Resident Zhang";
const PHONE: &str = "+86 20 5555 0199";
const EMAIL: &str = "probe.zhang@example.org";

fn leaked(text: &str) -> Vec<&'static str> {
    [NAME, PHONE, EMAIL].into_iter().filter(|probe| text.contains(probe)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn contact_details_never_leave_feedback() {
    let stack = Stack::up("privacy");
    let mut c = clients(&stack).await;
    let world = define_world(&mut c).await;

    let mut request = complaint(&world, "e2e-privacy");
    request.contact = Some(feedback::ResidentContact { name: NAME.into(), phone: PHONE.into(), email: EMAIL.into() });
    let report = submit(&c, request).await;
    let ticket = ticket_for_report(&c, &report.id, dispatch::TicketState::Assigned).await;
    work_ticket(&mut c, ticket.clone()).await;
    rate_when_survey_opens(&mut c, &report.id, 1, 5, feedback::FixedAnswer::Yes).await;
    eventually(WAIT, "analytics counts the rating", || {
        let mut a = c.analytics.clone();
        async move {
            let total = a.get_kpis(analytics::GetKpisRequest { time_range: Some(today()), ..Default::default() }).await.ok()?.into_inner().total?;
            (total.ratings_count == 1).then_some(())
        }
    })
    .await;

    // Positive control: feedback kept the contact and gives it to staff.
    let contact = c.feedback_staff.get_report_contact(feedback::GetReportContactRequest { report_id: report.id.clone() }).await.unwrap().into_inner();
    assert_eq!(contact.contact.map(|c| c.email), Some(EMAIL.to_owned()));

    // Feedback's own report views leave it out.
    let own = c.feedback.get_report(feedback::GetReportRequest { lookup: Some(feedback::get_report_request::Lookup::Id(report.id.clone())) }).await.unwrap().into_inner();
    assert_eq!(leaked(&format!("{own:?}")), Vec::<&str>::new(), "GetReport");
    let listed = c.feedback_staff.list_reports(feedback::ListReportsRequest::default()).await.unwrap().into_inner();
    assert_eq!(leaked(&format!("{listed:?}")), Vec::<&str>::new(), "ListReports");

    // Other services' answers.
    let full = c.dispatch.get_ticket(dispatch::GetTicketRequest { id: ticket.id.clone(), view: dispatch::TicketView::Full as i32 }).await.unwrap().into_inner();
    assert_eq!(leaked(&format!("{full:?}")), Vec::<&str>::new(), "dispatch GetTicket");
    let tickets = c.dispatch.list_tickets(dispatch::ListTicketsRequest::default()).await.unwrap().into_inner();
    assert_eq!(leaked(&format!("{tickets:?}")), Vec::<&str>::new(), "dispatch ListTickets");
    for dataset in [analytics::ExportDataset::Kpis, analytics::ExportDataset::ScenarioMatrix, analytics::ExportDataset::SiteLeague] {
        let mut csv = Vec::new();
        let mut chunks = c.analytics.export_csv(analytics::ExportCsvRequest { dataset: dataset as i32, time_range: Some(today()), ..Default::default() }).await.unwrap().into_inner();
        while let Some(chunk) = chunks.next().await {
            csv.extend(chunk.unwrap().data);
        }
        assert!(!csv.is_empty(), "{dataset:?} export has a header at least");
        assert_eq!(leaked(&String::from_utf8_lossy(&csv)), Vec::<&str>::new(), "analytics {dataset:?} export");
    }

    // Every event on every stream, raw bytes.
    let nats = stack.nats_client().await;
    let js = async_nats::jetstream::new(nats);
    let mut names = js.stream_names();
    let mut events = 0;
    while let Some(name) = names.next().await {
        let name = name.unwrap();
        let stream = js.get_stream(&name).await.unwrap();
        let last = stream.cached_info().state.last_sequence;
        for seq in 1..=last {
            let Ok(message) = stream.get_raw_message(seq).await else { continue };
            let text = String::from_utf8_lossy(&message.payload);
            assert_eq!(leaked(&text), Vec::<&str>::new(), "event {seq} on {name} ({})", message.subject);
            events += 1;
        }
    }
    assert!(events >= 8, "the cycle published its events ({events} read)");

    // Every container's log, feedback's included.
    for service in ["nats", "postgres", "registry", "dispatch", "feedback", "analytics"] {
        let logs = stack.docker(&["logs", &stack.container(service)]);
        let text = format!("{}{}", String::from_utf8_lossy(&logs.stdout), String::from_utf8_lossy(&logs.stderr));
        assert_eq!(leaked(&text), Vec::<&str>::new(), "{service} log");
    }
}
