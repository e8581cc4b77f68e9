//! `memory`: resident memory of the service processes, now (VmRSS) and at their peak so far
//! (VmHWM), from `/proc/<pid>/status`.

use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct MemoryArgs {
    /// Processes to read, as name=pid.
    #[arg(long = "process", value_parser = parse_process, required = true)]
    pub processes: Vec<(String, u32)>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct ProcessMemory {
    pub name: String,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
}

pub fn parse_process(s: &str) -> Result<(String, u32), String> {
    let (name, pid) = s.split_once('=').ok_or("expected name=pid")?;
    Ok((name.to_owned(), pid.parse().map_err(|_| format!("{pid:?} is not a process id"))?))
}

pub fn run(args: &MemoryArgs) -> anyhow::Result<Vec<ProcessMemory>> {
    args.processes
        .iter()
        .map(|(name, pid)| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("{name} (pid {pid}) is not running"))?;
            Ok(ProcessMemory { name: name.clone(), rss_mib: field_mib(&status, "VmRSS:")?, peak_rss_mib: field_mib(&status, "VmHWM:")? })
        })
        .collect()
}

/// A `kB` line of /proc/<pid>/status, in MiB.
fn field_mib(status: &str, field: &str) -> anyhow::Result<f64> {
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc status"))?;
    Ok((kb / 1024.0 * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let args = MemoryArgs { processes: vec![("bench".into(), me)], out: PathBuf::new() };
        let m = &run(&args).unwrap()[0];
        assert!(m.rss_mib > 0.0 && m.peak_rss_mib >= m.rss_mib, "{m:?}");
        assert!(parse_process("x").is_err());
    }
}
