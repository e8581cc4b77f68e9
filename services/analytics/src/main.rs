//! `flywheel-analytics`: serves analytics, checks a running one (`healthcheck`), or rebuilds
//! every projection from the streams (`rebuild`).

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("rebuild") {
        return flywheel_analytics::rebuild::main();
    }
    flywheel_runtime::cli::run(flywheel_analytics::SERVICE, flywheel_analytics::build)
}
