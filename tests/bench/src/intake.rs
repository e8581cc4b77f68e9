//! `intake`: residents' reports at rising offered load against a running deployment. Per step:
//! the SubmitReport call, report → ticket assigned (seen on dispatch's WatchTickets stream,
//! matched by the correlation id the report carries) with the part of it until dispatch created
//! the ticket (the ticket's create time; the services run on this machine's clock), and report →
//! counted in analytics' KPIs.

use crate::client::{Authed, Endpoints};
use crate::load::{self, Latency, Step};
use crate::seed::{self, World, WorldSize};
use flywheel_proto::flywheel::analytics::v1 as analytics;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How often analytics is asked whether the reports are counted yet.
const KPI_POLL: Duration = Duration::from_millis(20);

#[derive(clap::Args, Debug)]
pub struct IntakeArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub world: WorldSize,
    /// Offered loads, reports per second, one step each.
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000,4000")]
    pub rates: Vec<f64>,
    /// Length of each step.
    #[arg(long, default_value_t = 10)]
    pub step_secs: u64,
    /// A step whose SubmitReport p99 passes this is saturated and the last one.
    #[arg(long, default_value_t = 1000)]
    pub max_p99_ms: u64,
    /// How long after a step to wait for its tickets and KPIs before counting them missing.
    #[arg(long, default_value_t = 30)]
    pub drain_secs: u64,
    /// Where to write the result (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct IntakeStep {
    #[serde(flatten)]
    pub load: Step,
    /// From sending the report to seeing its ticket ASSIGNED.
    pub assigned: Latency,
    /// From sending the report to the create time dispatch gave its ticket: the part of
    /// `assigned` before the ticket's transaction commits and the feed delivers it.
    pub ticket_created: Latency,
    /// Accepted reports whose ticket was not seen assigned within the drain time.
    pub not_assigned: u64,
    /// From sending the report to analytics counting it in reports_received (±20 ms polling).
    pub kpi_visible: Latency,
    pub kpi_missing: u64,
    /// Cores the whole machine kept busy while the step sent: near all of them, every hop
    /// queues for a core.
    pub machine_busy_cores: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct IntakeResult {
    pub sites: usize,
    pub steps: Vec<IntakeStep>,
    /// The highest achieved rate of a step that was not saturated.
    pub sustained_per_s: f64,
    /// CPU seconds the generator used over the whole run (its own share of the machine).
    pub generator_cpu_s: Option<f64>,
}

/// What the watchers need to know about the step in progress.
#[derive(Default)]
struct InFlight {
    /// Accepted reports by correlation id → when they were sent.
    waiting_assignment: Mutex<HashMap<String, Sent>>,
    assigned: Mutex<Vec<Duration>>,
    ticket_created: Mutex<Vec<Duration>>,
    /// Send times of accepted reports, in the order they were accepted.
    accepted: Mutex<Vec<Instant>>,
    done_sending: AtomicBool,
}

/// When a report was sent, by the monotonic clock and by the wall clock tickets are stamped with.
#[derive(Clone, Copy)]
struct Sent {
    at: Instant,
    wall: SystemTime,
}

pub async fn run(args: &IntakeArgs) -> anyhow::Result<IntakeResult> {
    let tag = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    eprintln!("intake: creating the bench world ({tag})");
    let world = seed::create(&args.endpoints, &tag, &args.world).await?;
    let state = Arc::new(Mutex::new(Arc::new(InFlight::default())));
    watch_assignments(args.endpoints.dispatch().await?, &world, state.clone()).await?;
    let fb = args.endpoints.feedback().await?;
    let an = args.endpoints.analytics().await?;
    let counter = Arc::new(AtomicU64::new(0));

    eprintln!("intake: warming up (every service has the world and the pipeline flows)");
    warm_up(&fb, &world, &counter).await?;

    let mut steps = Vec::new();
    for &rate in &args.rates {
        let step_state = Arc::new(InFlight::default());
        *state.lock().unwrap() = step_state.clone();
        let baseline = reports_counted(&mut an.clone(), &world).await?;
        let poller = tokio::spawn(poll_kpis(an.clone(), world.clone(), baseline, step_state.clone(), Duration::from_secs(args.step_secs + args.drain_secs)));
        let submit = submitter(fb.clone(), world.clone(), counter.clone(), step_state.clone());
        let busy = crate::cpu::BusyCores::start();
        let load = load::run_step(rate, Duration::from_secs(args.step_secs), submit).await;
        let machine_busy_cores = busy.so_far();
        step_state.done_sending.store(true, Ordering::Relaxed);
        let drained_by = Instant::now() + Duration::from_secs(args.drain_secs);
        while Instant::now() < drained_by && !step_state.waiting_assignment.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let kpi_samples = poller.await?;
        let not_assigned = step_state.waiting_assignment.lock().unwrap().len() as u64;
        let assigned = Latency::of(std::mem::take(&mut *step_state.assigned.lock().unwrap()));
        let ticket_created = Latency::of(std::mem::take(&mut *step_state.ticket_created.lock().unwrap()));
        let kpi_missing = load.ok.saturating_sub(kpi_samples.len() as u64);
        let step = IntakeStep { assigned, ticket_created, not_assigned, kpi_visible: Latency::of(kpi_samples), kpi_missing, machine_busy_cores, load };
        eprintln!(
            "intake: offered {}/s achieved {}/s errors {:?} submit p99 {} ms, assigned p99 {} ms ({} missing; created p99 {} ms), KPI p99 {} ms",
            step.load.offered_per_s,
            step.load.achieved_per_s,
            step.load.errors,
            step.load.call.p99_ms,
            step.assigned.p99_ms,
            step.not_assigned,
            step.ticket_created.p99_ms,
            step.kpi_visible.p99_ms
        );
        let saturated = step.load.saturated(Duration::from_millis(args.max_p99_ms));
        steps.push(step);
        if saturated {
            eprintln!("intake: saturated");
            break;
        }
    }
    let loads: Vec<Step> = steps.iter().map(|s| s.load.clone()).collect();
    let sustained_per_s = load::sustained(&loads, Duration::from_millis(args.max_p99_ms));
    Ok(IntakeResult { sites: world.sites.len(), steps, sustained_per_s, generator_cpu_s: crate::cpu::own_seconds() })
}

type FeedbackClient = feedback::feedback_service_client::FeedbackServiceClient<Authed>;
type AnalyticsClient = analytics::analytics_service_client::AnalyticsServiceClient<Authed>;

/// The n-th report of the run: sites and categories in turn, each at its own spot, so no report
/// repeats another (with the duplicate radius at 0) and every one becomes a ticket.
pub fn report(world: &World, n: u64) -> feedback::SubmitReportRequest {
    let (site_id, at) = &world.sites[n as usize % world.sites.len()];
    let category_id = &world.category_ids[(n as usize / world.sites.len()) % world.category_ids.len()];
    // Distinct spots for the first million reports, all within about 11 m of the site.
    let (north, west) = ((n % 1_000) as f64 * 1e-7, (n / 1_000 % 1_000) as f64 * 1e-7);
    let report = feedback::Report {
        kind: feedback::ReportKind::Complaint as i32,
        site_id: site_id.clone(),
        category_id: category_id.clone(),
        location: Some(GeoPoint { lat: at.lat + north, lng: at.lng - west }),
        description: format!("Bench report {n}: bins overflowing at the entrance"),
        channel: feedback::ReportChannel::App as i32,
        ..Default::default()
    };
    feedback::SubmitReportRequest { report: Some(report), contact: None, request_id: String::new() }
}

fn submitter(
    fb: FeedbackClient,
    world: World,
    counter: Arc<AtomicU64>,
    state: Arc<InFlight>,
) -> impl Fn(u64) -> futures::future::BoxFuture<'static, Result<(), tonic::Status>> {
    move |_| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let mut request = tonic::Request::new(report(&world, n));
        let correlation = format!("{}-{n}", world.district_id);
        request.metadata_mut().insert("x-correlation-id", correlation.parse().expect("ids are ASCII"));
        let mut fb = fb.clone();
        let state = state.clone();
        Box::pin(async move {
            let sent = Sent { at: Instant::now(), wall: SystemTime::now() };
            // Registered before the call: the ticket may be assigned before the answer arrives.
            state.waiting_assignment.lock().unwrap().insert(correlation.clone(), sent);
            match fb.submit_report(request).await {
                Ok(_) => {
                    state.accepted.lock().unwrap().push(sent.at);
                    Ok(())
                }
                Err(status) => {
                    state.waiting_assignment.lock().unwrap().remove(&correlation);
                    Err(status)
                }
            }
        })
    }
}

/// Follows every assignment in the bench district and times the reports of the current step.
async fn watch_assignments(
    mut disp: dispatch::dispatch_service_client::DispatchServiceClient<Authed>,
    world: &World,
    state: Arc<Mutex<Arc<InFlight>>>,
) -> anyhow::Result<()> {
    let request = dispatch::WatchTicketsRequest {
        region_id: world.district_id.clone(),
        states: vec![dispatch::TicketState::Assigned as i32],
        ..Default::default()
    };
    let mut stream = disp.watch_tickets(request).await?.into_inner();
    tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            let Ok(message) = message else { break };
            let Some(dispatch::watch_tickets_response::Item::Change(change)) = message.item else { continue };
            let Some(ticket) = change.ticket else { continue };
            if ticket.state != dispatch::TicketState::Assigned as i32 {
                continue;
            }
            let current = state.lock().unwrap().clone();
            let sent = current.waiting_assignment.lock().unwrap().remove(&ticket.correlation_id);
            if let Some(sent) = sent {
                current.assigned.lock().unwrap().push(sent.at.elapsed());
                if let Some(created) = ticket.create_time.and_then(|t| wall_time(&t)) {
                    current.ticket_created.lock().unwrap().push(created.duration_since(sent.wall).unwrap_or_default());
                }
            }
        }
        eprintln!("intake: the WatchTickets stream ended");
    });
    Ok(())
}

fn wall_time(t: &prost_types::Timestamp) -> Option<SystemTime> {
    let since_epoch = Duration::new(u64::try_from(t.seconds).ok()?, u32::try_from(t.nanos).ok()?);
    SystemTime::UNIX_EPOCH.checked_add(since_epoch)
}

/// Reports analytics has counted in the bench district.
async fn reports_counted(an: &mut AnalyticsClient, world: &World) -> Result<i64, tonic::Status> {
    let now = chrono::Utc::now().timestamp();
    let request = analytics::GetKpisRequest {
        filter: Some(analytics::KpiFilter { region_ids: vec![world.district_id.clone()], ..Default::default() }),
        time_range: Some(analytics::TimeRange {
            start_time: Some(prost_types::Timestamp { seconds: now - 86_400, nanos: 0 }),
            end_time: Some(prost_types::Timestamp { seconds: now + 86_400, nanos: 0 }),
        }),
        ..Default::default()
    };
    Ok(an.get_kpis(request).await?.into_inner().total.unwrap_or_default().reports_received)
}

/// Polls the KPI count until every accepted report of the step is counted (or `limit` passes);
/// when the count reaches k, the k-th accepted report became visible. Returns those delays.
async fn poll_kpis(mut an: AnalyticsClient, world: World, baseline: i64, state: Arc<InFlight>, limit: Duration) -> Vec<Duration> {
    let started = Instant::now();
    let mut delays = Vec::new();
    while started.elapsed() < limit {
        tokio::time::sleep(KPI_POLL).await;
        let Ok(count) = reports_counted(&mut an, &world).await else { continue };
        let now = Instant::now();
        let visible = (count - baseline).max(0) as usize;
        let accepted = state.accepted.lock().unwrap();
        while delays.len() < visible.min(accepted.len()) {
            delays.push(now.duration_since(accepted[delays.len()]));
        }
        // Done once the step has stopped sending and everything accepted is counted.
        let complete = state.done_sending.load(Ordering::Relaxed) && delays.len() == accepted.len();
        drop(accepted);
        if complete {
            break;
        }
    }
    delays
}

/// Files one unrecorded report once feedback knows the world, so nothing measured waits for
/// replication.
async fn warm_up(fb: &FeedbackClient, world: &World, counter: &AtomicU64) -> anyhow::Result<()> {
    // The last site with the last category: the last things created, so the last to replicate.
    let first = world.sites.len() as u64 * world.category_ids.len() as u64 - 1;
    flywheel_runtime::grpc::retry_while_replicating(|| {
        let mut fb = fb.clone();
        let request = report(world, first);
        async move { fb.submit_report(request).await.map(|_| ()) }
    })
    .await?;
    counter.store(first + 1, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_report_of_a_long_run_repeats_another_at_the_same_spot() {
        let at = GeoPoint { lat: 23.1, lng: 113.3 };
        let world = World {
            district_id: "d".into(),
            sites: (0..200).map(|i| (format!("site-{i}"), at)).collect(),
            category_ids: vec!["a".into(), "b".into(), "c".into()],
        };
        let mut seen = std::collections::HashSet::new();
        for n in 0..200_000 {
            let r = report(&world, n).report.unwrap();
            let spot = r.location.unwrap();
            let key = (r.site_id, r.category_id, spot.lat.to_bits(), spot.lng.to_bits());
            assert!(seen.insert(key), "report {n} repeats an earlier one");
            assert!((spot.lat - at.lat).abs() < 1e-4 && (spot.lng - at.lng).abs() < 1e-4, "report {n} is far from its site");
        }
    }
}
