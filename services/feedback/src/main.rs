//! `flywheel-feedback`: serves resident feedback, or checks a running one (`healthcheck`).

fn main() -> std::process::ExitCode {
    flywheel_runtime::cli::run(flywheel_feedback::SERVICE, flywheel_feedback::build)
}
