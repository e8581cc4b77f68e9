//! Compiles the ceiling service's contract; its messages are the feedback contract's own.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("proto");
    let shared = manifest.join("../../proto");
    let file = own.join("flywheel/bench/v1/ceiling.proto");
    let mut fds = protox::compile([&file], [&own, &shared])?;
    // Generate only the bench package; the imported messages come from flywheel-proto.
    fds.file.retain(|f| f.package() == "flywheel.bench.v1");
    tonic_prost_build::configure()
        .build_client(true)
        .extern_path(".flywheel.feedback", "::flywheel_proto::flywheel::feedback")
        .extern_path(".flywheel.common", "::flywheel_proto::flywheel::common")
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", own.display());
    Ok(())
}
