//! `flywheel-bench`: load generator and benchmarks for a Flywheel deployment. Each subcommand
//! writes its result as JSON; `report` gathers them into `report.md` and `report.json`.

mod analytics_scale;
mod ceiling;
mod client;
mod consumers;
mod cpu;
mod intake;
mod load;
mod memory;
mod registry_scale;
mod report;
mod scale;
mod seed;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "flywheel-bench", version, about = "Benchmarks a Flywheel deployment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Residents' reports at rising offered load against a running deployment.
    Intake(intake::IntakeArgs),
    /// The same load against a minimal server doing the least the job needs.
    Ceiling(ceiling::CeilingArgs),
    /// Dispatch decision time with growing numbers of crews and sites.
    DispatchScale(scale::DispatchScaleArgs),
    /// Analytics query latency with 1M and 10M tickets' worth of facts.
    AnalyticsScale(analytics_scale::AnalyticsScaleArgs),
    /// Registry ListSites latency (pages, region and radius filters) with growing numbers of sites.
    RegistryScale(registry_scale::RegistryScaleArgs),
    /// Resident memory of service processes.
    Memory(memory::MemoryArgs),
    /// CPU time used so far by each process of the deployment (run before and after a step).
    Cpu(cpu::CpuArgs),
    /// Gathers the results into report.md and report.json.
    Report(report::ReportArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Intake(args) => match intake::run(&args).await {
            Ok(r) => report::write(&args.out, &r),
            Err(e) => Err(e),
        },
        Command::Ceiling(args) => match ceiling::run(&args).await {
            Ok(r) => report::write(&args.out, &r),
            Err(e) => Err(e),
        },
        Command::DispatchScale(args) => match scale::run(&args).await {
            Ok(r) => report::write(&args.out, &r),
            Err(e) => Err(e),
        },
        Command::AnalyticsScale(args) => match analytics_scale::run(&args).await {
            Ok(r) => report::write(&args.out, &r),
            Err(e) => Err(e),
        },
        Command::RegistryScale(args) => match registry_scale::run(&args).await {
            Ok(r) => report::write(&args.out, &r),
            Err(e) => Err(e),
        },
        Command::Memory(args) => memory::run(&args).and_then(|r| report::write(&args.out, &r)),
        Command::Cpu(args) => cpu::run(&args).and_then(|r| report::write(&args.out, &r)),
        Command::Report(args) => report::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flywheel-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
