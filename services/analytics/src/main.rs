//! `flywheel-analytics`: serves analytics, checks a running one (`healthcheck`), or rebuilds
//! every projection from the streams (`rebuild`).

use std::process::ExitCode;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("rebuild") => flywheel_analytics::rebuild::main(),
        Some("-h" | "--help" | "help") => {
            println!(
                "usage: flywheel-analytics [serve | healthcheck | rebuild]\n\n  serve        run the service (default)\n  healthcheck  exit 0 when the service on GRPC_ADDR reports SERVING\n  rebuild      replay the event streams from the start into fresh projections\n\nConfiguration comes from the environment; see docs/analytics.md."
            );
            ExitCode::SUCCESS
        }
        _ => flywheel_runtime::cli::run(flywheel_analytics::SERVICE, flywheel_analytics::build),
    }
}
