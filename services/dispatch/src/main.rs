//! `flywheel-dispatch`: serves ticket dispatch, or checks a running one (`healthcheck`).

fn main() -> std::process::ExitCode {
    flywheel_runtime::cli::run(flywheel_dispatch::SERVICE, flywheel_dispatch::build)
}
