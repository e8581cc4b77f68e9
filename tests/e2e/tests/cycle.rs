//! The whole cycle through the compose deployment: catalog and sites → a resident report → a
//! ticket assigned automatically → accepted → resolved → survey → rating 2 → reopened →
//! resolved → rating 5 → analytics counts it all; and a report filed through Open311 reaches
//! dispatch.

use flywheel_e2e::world::*;
use flywheel_e2e::{Stack, eventually};
use flywheel_proto::flywheel::analytics::v1 as analytics;
use flywheel_proto::flywheel::common::v1::{Dimension, Perspective, ScenarioCell};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;

#[tokio::test(flavor = "multi_thread")]
async fn a_report_goes_round_the_whole_cycle() {
    let stack = Stack::up("cycle");
    let mut c = clients(&stack).await;
    let world = define_world(&mut c).await;

    let submit = complaint(&world, "e2e-report-1");
    let report = eventually(WAIT, "feedback accepts the report", || {
        let mut f = c.feedback.clone();
        let r = submit.clone();
        async move { f.submit_report(r).await.ok().map(|r| r.into_inner()) }
    }).await;
    assert_eq!(report.site_id, world.site.id, "the location resolves to the site");

    let ticket = ticket_for_report(&c, &report.id, dispatch::TicketState::Assigned).await;
    assert_eq!(ticket.crew_id, world.crew.id);
    assert_eq!(ticket.site_id, world.site.id);
    let resolved = work_ticket(&mut c, ticket).await;
    assert_eq!(resolved.state, dispatch::TicketState::Resolved as i32);

    rate_when_survey_opens(&mut c, &report.id, 1, 2, feedback::FixedAnswer::No).await;
    let reopened = ticket_for_report(&c, &report.id, dispatch::TicketState::Assigned).await;
    assert_eq!(reopened.reopen_count, 1);
    work_ticket(&mut c, reopened).await;
    rate_when_survey_opens(&mut c, &report.id, 2, 5, feedback::FixedAnswer::Yes).await;

    let kpis = eventually(WAIT, "analytics counts the cycle", || {
        let mut a = c.analytics.clone();
        async move {
            let total = a.get_kpis(analytics::GetKpisRequest { time_range: Some(today()), ..Default::default() }).await.ok()?.into_inner().total?;
            (total.ratings_count == 2 && total.tickets_reopened == 1).then_some(total)
        }
    }).await;
    assert_eq!(kpis.reports_received, 1);
    assert_eq!(kpis.tickets_opened, 1);
    assert_eq!(kpis.csat_mean, Some(3.5));
    assert!(kpis.time_to_resolve.is_some());
    let matrix = c.analytics.get_scenario_matrix(analytics::GetScenarioMatrixRequest { time_range: Some(today()), ..Default::default() }).await.unwrap().into_inner();
    let cell = matrix
        .cells
        .iter()
        .find(|m| m.cell == Some(ScenarioCell { dimension: Dimension::Assets as i32, perspective: Perspective::Living as i32 }))
        .expect("the ASSETS x LIVING cell");
    assert_eq!(cell.volume, 1);
    assert_eq!(cell.csat_mean, Some(3.5));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_filed_through_open311_reaches_dispatch() {
    let stack = Stack::up("open311");
    let mut c = clients(&stack).await;
    let world = define_world(&mut c).await;
    let form = format!(
        "service_code={}&lat=23.1062&long=113.3249&description=Lamp+out+at+the+plaza&first_name=Wang&phone=%2B862055550102",
        world.category.code
    );
    let http = stack.http("feedback");
    let body = eventually(WAIT, "Open311 accepts the request", || {
        let form = form.clone();
        let http = http.clone();
        async move {
            let (status, body) = post_form(&http, "/open311/v2/requests.json", &form).await.ok()?;
            (status == 200 || status == 201).then_some(body)
        }
    }).await;
    let id = body
        .split("\"service_request_id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no service_request_id in {body}"))
        .to_owned();
    let ticket = eventually(WAIT, "dispatch has a ticket for the Open311 request", || {
        let mut d = c.dispatch.clone();
        let id = id.clone();
        async move {
            // An Open311 service_request_id is the report's id.
            let list = d.list_tickets(dispatch::ListTicketsRequest { report_id: id, ..Default::default() }).await.ok()?.into_inner();
            list.tickets.into_iter().next()
        }
    }).await;
    assert_eq!(ticket.site_id, world.site.id);
}

async fn post_form(addr: &str, path: &str, form: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    s.write_all(request.as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}
