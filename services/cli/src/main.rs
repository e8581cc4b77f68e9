//! `flywheel`: the operator's command line — look at sites, crews and tickets, create and watch
//! tickets, read KPIs, load the demo district, manage the keys that sign callers' tokens, and
//! generate the NATS users of a deployment.

mod auth;
mod commands;
mod demo;
mod endpoints;
mod nats_auth;
mod show;

use clap::{Parser, Subcommand};
use endpoints::Endpoints;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "flywheel", version, about = "Operate a Flywheel deployment over gRPC")]
struct Cli {
    #[command(flatten)]
    endpoints: Endpoints,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Managed sites (registry).
    #[command(subcommand)]
    Sites(commands::SitesCommand),
    /// Crews (dispatch).
    #[command(subcommand)]
    Crews(commands::CrewsCommand),
    /// Tickets (dispatch).
    #[command(subcommand)]
    Tickets(commands::TicketsCommand),
    /// KPIs for the whole area or a site (analytics).
    Kpis(commands::KpisArgs),
    /// The demo district: Haizhu, around the Canton Tower.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// NATS users for the services and tools: NKeys and subject permissions.
    #[command(subcommand)]
    NatsAuth(nats_auth::NatsAuthCommand),
    /// Signing keys and tokens.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sites(c) => commands::sites(&cli.endpoints, c).await,
        Command::Crews(c) => commands::crews(&cli.endpoints, c).await,
        Command::Tickets(c) => commands::tickets(&cli.endpoints, c).await,
        Command::Kpis(a) => commands::kpis(&cli.endpoints, a).await,
        Command::Demo(c) => demo::run(&cli.endpoints, c).await,
        Command::NatsAuth(c) => nats_auth::run(c),
        Command::Auth(c) => auth::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flywheel: {e:#}");
            ExitCode::FAILURE
        }
    }
}
