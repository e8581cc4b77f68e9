//! `flywheel-registry`: serves the registry, or checks a running one (`healthcheck`).

fn main() -> std::process::ExitCode {
    flywheel_runtime::cli::run(flywheel_registry::SERVICE, flywheel_registry::build)
}
