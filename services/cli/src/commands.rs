//! The list, show, create and watch commands.

use crate::endpoints::Endpoints;
use crate::show;
use flywheel_proto::flywheel::analytics::v1::{GetKpisRequest, KpiFilter, Kpis, TimeRange};
use flywheel_proto::flywheel::common::v1::Priority;
use flywheel_proto::flywheel::dispatch::v1::{
    GetCrewRequest, GetTicketRequest, ListCrewsRequest, ListTicketsRequest, Ticket, TicketOrigin,
    TicketOriginKind, WatchTicketsRequest, watch_tickets_response::Item,
};
use flywheel_proto::flywheel::registry::v1::{GetSiteRequest, ListSitesRequest};

#[derive(clap::Subcommand)]
pub enum SitesCommand {
    /// Lists sites, all pages.
    List {
        /// Only sites in this region's subtree.
        #[arg(long)]
        region: Option<String>,
        /// Only flagship sites.
        #[arg(long)]
        flagship: bool,
    },
    /// Shows one site.
    Show { id: String },
}

#[derive(clap::Subcommand)]
pub enum CrewsCommand {
    /// Lists crews, all pages.
    List,
    /// Shows one crew.
    Show { id: String },
}

#[derive(clap::Subcommand)]
pub enum TicketsCommand {
    /// Lists tickets, all pages (newest first).
    List {
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        crew: Option<String>,
    },
    /// Shows one ticket with its history.
    Show { id: String },
    /// Creates a ticket by hand; dispatch assigns it at once when a crew is eligible.
    Create {
        #[arg(long)]
        site: String,
        #[arg(long)]
        category: String,
        /// 1 (most urgent) to 4; the category's default when omitted.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=4))]
        priority: Option<i32>,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Prints ticket changes as they happen (Ctrl-C to stop).
    Watch {
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        crew: Option<String>,
        /// Resume after this cursor.
        #[arg(long)]
        cursor: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct KpisArgs {
    /// Only this site.
    #[arg(long)]
    site: Option<String>,
    /// Only this region (and below).
    #[arg(long)]
    region: Option<String>,
    /// How many days back from now.
    #[arg(long, default_value_t = 30)]
    days: i64,
}

pub async fn sites(ep: &Endpoints, command: SitesCommand) -> anyhow::Result<()> {
    let mut client = ep.registry().await?;
    match command {
        SitesCommand::List { region, flagship } => {
            let mut token = String::new();
            loop {
                let page = client
                    .list_sites(ListSitesRequest {
                        region_id: region.clone().unwrap_or_default(),
                        flagship: flagship.then_some(true),
                        page_size: 500,
                        page_token: token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                page.sites.iter().for_each(|s| println!("{}", show::site_line(s)));
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                token = page.next_page_token;
            }
        }
        SitesCommand::Show { id } => {
            let site = client.get_site(GetSiteRequest { id }).await?.into_inner();
            println!("{site:#?}");
            Ok(())
        }
    }
}

pub async fn crews(ep: &Endpoints, command: CrewsCommand) -> anyhow::Result<()> {
    let mut client = ep.dispatch().await?;
    match command {
        CrewsCommand::List => {
            let mut token = String::new();
            loop {
                let page = client
                    .list_crews(ListCrewsRequest { page_size: 500, page_token: token, ..Default::default() })
                    .await?
                    .into_inner();
                page.crews.iter().for_each(|c| println!("{}", show::crew_line(c)));
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                token = page.next_page_token;
            }
        }
        CrewsCommand::Show { id } => {
            println!("{:#?}", client.get_crew(GetCrewRequest { id }).await?.into_inner());
            Ok(())
        }
    }
}

pub async fn tickets(ep: &Endpoints, command: TicketsCommand) -> anyhow::Result<()> {
    let mut client = ep.dispatch().await?;
    match command {
        TicketsCommand::List { site, crew } => {
            let mut token = String::new();
            loop {
                let page = client
                    .list_tickets(ListTicketsRequest {
                        site_id: site.clone().unwrap_or_default(),
                        crew_id: crew.clone().unwrap_or_default(),
                        page_size: 500,
                        page_token: token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                page.tickets.iter().for_each(|t| println!("{}", show::ticket_line(t)));
                if page.next_page_token.is_empty() {
                    return Ok(());
                }
                token = page.next_page_token;
            }
        }
        TicketsCommand::Show { id } => {
            let ticket = client.get_ticket(GetTicketRequest { id, ..Default::default() }).await?.into_inner();
            println!("{ticket:#?}");
            Ok(())
        }
        TicketsCommand::Create { site, category, priority, title, description } => {
            let ticket = client
                .create_ticket(flywheel_proto::flywheel::dispatch::v1::CreateTicketRequest {
                    ticket: Some(Ticket {
                        site_id: site,
                        category_id: category,
                        priority: priority.unwrap_or(Priority::Unspecified as i32),
                        title,
                        description,
                        origin: Some(TicketOrigin { kind: TicketOriginKind::Manual as i32, ..Default::default() }),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?
                .into_inner();
            println!("{}", show::ticket_line(&ticket));
            Ok(())
        }
        TicketsCommand::Watch { site, crew, cursor } => {
            let mut stream = client
                .watch_tickets(WatchTicketsRequest {
                    site_id: site.unwrap_or_default(),
                    crew_id: crew.unwrap_or_default(),
                    cursor: cursor.unwrap_or_default(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            while let Some(message) = stream.message().await? {
                match message.item {
                    Some(Item::Change(change)) => {
                        if let Some(t) = change.ticket {
                            println!("{}  {}", message.cursor, show::ticket_line(&t));
                        }
                    }
                    Some(Item::Snapshot(t)) => println!("{}  {}", message.cursor, show::ticket_line(&t)),
                    _ => {}
                }
            }
            Ok(())
        }
    }
}

pub async fn kpis(ep: &Endpoints, args: KpisArgs) -> anyhow::Result<()> {
    let mut client = ep.analytics().await?;
    let response = client
        .get_kpis(GetKpisRequest {
            filter: Some(KpiFilter {
                site_ids: args.site.into_iter().collect(),
                region_ids: args.region.into_iter().collect(),
                ..Default::default()
            }),
            time_range: Some(last_days(args.days)),
            ..Default::default()
        })
        .await?
        .into_inner();
    print_kpis(&response.total.unwrap_or_default());
    Ok(())
}

/// From `days` ago to the end of the current hour (analytics buckets by whole hours).
fn last_days(days: i64) -> TimeRange {
    let now = chrono::Utc::now().timestamp();
    let end = now - now.rem_euclid(3600) + 3600;
    TimeRange {
        start_time: Some(prost_types::Timestamp { seconds: end - days.max(1) * 24 * 3600, nanos: 0 }),
        end_time: Some(prost_types::Timestamp { seconds: end, nanos: 0 }),
    }
}

fn print_kpis(k: &Kpis) {
    let ratio = |r: Option<f64>| r.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "-".into());
    println!("reports received      {}", k.reports_received);
    println!("tickets opened        {}", k.tickets_opened);
    println!("tickets resolved      {}", k.tickets_resolved);
    println!("tickets closed        {}", k.tickets_closed);
    println!("backlog               {}", k.backlog);
    println!("SLA compliance        {}", ratio(k.sla_compliance_ratio));
    println!("SLA breaches          {}", k.sla_breaches);
    println!("reopen rate           {}", ratio(k.reopen_rate));
    println!("CSAT (1-5)            {}", k.csat_mean.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into()));
    println!("fixed share           {}", ratio(k.fixed_share));
    println!("supports (me too)     {}", k.supports_count);
}
