//! `cpu`: a snapshot of the CPU time each part of the deployment has used so far, from
//! `/proc/<pid>/stat` (every thread of a process), with PostgreSQL's backends grouped by the
//! database they serve. `scripts/bench.sh` takes one before and one after the intake steps; the
//! report divides the difference by the reports accepted in between — what one report costs each
//! process, whichever of them the machine's cores went to. Each part's threads also say how long
//! they were ready to run but waiting for a core (`/proc/<pid>/task/<tid>/schedstat`): the
//! share of a hop's latency that is the machine's queue, not its work.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `/proc` counts CPU time in USER_HZ ticks, 100 a second on every Linux architecture the
/// kernel exports to user space.
const TICKS_PER_S: f64 = 100.0;

#[derive(clap::Args, Debug)]
pub struct CpuArgs {
    /// Processes to read, as name=pid.
    #[arg(long = "process", value_parser = crate::memory::parse_process)]
    pub processes: Vec<(String, u32)>,
    /// Also every PostgreSQL process: backends of this role by database, the rest together.
    #[arg(long)]
    pub postgres_user: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// Seconds since the machine booted, from `/proc/uptime`.
    pub uptime_s: f64,
    /// CPU seconds of the whole machine, busy (neither idle nor waiting for I/O) and in all.
    pub machine_busy_s: f64,
    pub machine_total_s: f64,
    /// CPU seconds used so far, by part.
    pub parts: BTreeMap<String, f64>,
    /// Seconds the part's live threads have waited for a core so far, where the kernel keeps
    /// scheduler statistics.
    #[serde(default)]
    pub waits: BTreeMap<String, f64>,
}

pub fn run(args: &CpuArgs) -> anyhow::Result<Snapshot> {
    let mut parts = BTreeMap::new();
    let mut waits = BTreeMap::new();
    for (name, pid) in &args.processes {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("{name} (pid {pid}) is not running"))?;
        parts.insert(name.clone(), process_seconds(&stat).with_context(|| format!("/proc/{pid}/stat"))?);
        if let Some(w) = wait_seconds(Path::new(&format!("/proc/{pid}"))) {
            waits.insert(name.clone(), w);
        }
    }
    if let Some(user) = &args.postgres_user {
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let dir = entry.path();
            // A process may end between the listing and the reads: it is skipped.
            let (Ok(cmdline), Ok(stat)) = (std::fs::read(dir.join("cmdline")), std::fs::read_to_string(dir.join("stat"))) else { continue };
            let Some(part) = postgres_part(&String::from_utf8_lossy(&cmdline), user) else { continue };
            if let Some(s) = process_seconds(&stat) {
                *parts.entry(part.clone()).or_default() += s;
            }
            if let Some(w) = wait_seconds(&dir) {
                *waits.entry(part).or_default() += w;
            }
        }
    }
    let (machine_busy_s, machine_total_s) = machine_seconds(&std::fs::read_to_string("/proc/stat")?).context("/proc/stat")?;
    let uptime = std::fs::read_to_string("/proc/uptime")?;
    let uptime_s = uptime.split_whitespace().next().and_then(|s| s.parse().ok()).context("/proc/uptime")?;
    Ok(Snapshot { uptime_s, machine_busy_s, machine_total_s, parts, waits })
}

/// The cores the whole machine kept busy over a span: started where it begins, read where it ends.
pub struct BusyCores {
    busy_s: Option<f64>,
    since: Instant,
}

impl BusyCores {
    pub fn start() -> Self {
        Self { busy_s: machine_busy_seconds(), since: Instant::now() }
    }

    /// Busy cores since the start, to two places; None without `/proc/stat`.
    pub fn so_far(&self) -> Option<f64> {
        let busy_s = machine_busy_seconds()? - self.busy_s?;
        Some(round(busy_s / self.since.elapsed().as_secs_f64(), 2))
    }
}

/// The machine's busy CPU seconds so far (every core, neither idle nor waiting for I/O).
fn machine_busy_seconds() -> Option<f64> {
    machine_seconds(&std::fs::read_to_string("/proc/stat").ok()?).map(|(busy, _)| busy)
}

/// How long the live threads of the process at `/proc/<pid>` have waited for a core, in
/// seconds; None where the kernel keeps no scheduler statistics.
fn wait_seconds(process: &Path) -> Option<f64> {
    let mut ns = None;
    for task in std::fs::read_dir(process.join("task")).ok()?.flatten() {
        // A thread may end between the listing and the read: it is skipped.
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        *ns.get_or_insert(0) += schedstat_wait_ns(&schedstat)?;
    }
    ns.map(|ns| ns as f64 / 1e9)
}

/// The second field of a thread's `schedstat`: nanoseconds spent runnable, waiting for a core.
fn schedstat_wait_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU seconds this process has used so far.
pub fn own_seconds() -> Option<f64> {
    process_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User and system time of one process, all its threads, in seconds.
fn process_seconds(stat: &str) -> Option<f64> {
    // The command name is in parentheses and may hold spaces: fields count from after it.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
}

/// Which part a PostgreSQL process belongs to, from the title it sets (`postgres: <role>
/// <database> <client> <activity>` for a backend, `postgres: <what>` for the server's own).
fn postgres_part(cmdline: &str, user: &str) -> Option<String> {
    let title = cmdline.trim_end_matches('\0').strip_prefix("postgres: ")?;
    let mut words = title.split_whitespace();
    match (words.next(), words.next()) {
        (Some(role), Some(database)) if role == user => Some(format!("postgres: {database}")),
        _ => Some("postgres: server".to_owned()),
    }
}

/// The machine's busy and total CPU seconds from the first line of `/proc/stat`.
fn machine_seconds(stat: &str) -> Option<(f64, f64)> {
    let ticks: Vec<f64> = stat.lines().next()?.strip_prefix("cpu ")?.split_whitespace().filter_map(|t| t.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some(((total - idle) / TICKS_PER_S, total / TICKS_PER_S))
}

/// What each part used between the snapshots `cpu-before.json` and `cpu-after.json` in `dir`,
/// per accepted report (`reports`) and in cores, as JSON rows, with the generator's own seconds
/// when it counted them; Null when either snapshot is missing.
pub fn read(dir: &Path, reports: f64, generator_s: Option<f64>) -> serde_json::Value {
    let load = |name: &str| -> Option<Snapshot> { serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok() };
    match (load("cpu-before.json"), load("cpu-after.json")) {
        (Some(before), Some(mut after)) => {
            if let Some(s) = generator_s {
                after.parts.insert("the generator".to_owned(), s);
            }
            between(&before, &after, reports)
        }
        _ => serde_json::Value::Null,
    }
}

fn between(before: &Snapshot, after: &Snapshot, reports: f64) -> serde_json::Value {
    let wall_s = after.uptime_s - before.uptime_s;
    let per_report = |s: f64| if reports > 0.0 { round(1000.0 * s / reports, 3) } else { 0.0 };
    let row = |part: &str, used_s: f64| {
        let waited_s = after.waits.get(part).zip(before.waits.get(part)).map(|(a, b)| a - b).filter(|w| *w >= 0.0);
        serde_json::json!({
            "part": part,
            "cpu_s": round(used_s, 1),
            "cores": if wall_s > 0.0 { round(used_s / wall_s, 2) } else { 0.0 },
            "ms_per_report": per_report(used_s),
            "waited_ms_per_report": waited_s.map(per_report),
        })
    };
    let mut rows: Vec<(String, f64)> =
        after.parts.iter().map(|(part, s)| (part.clone(), s - before.parts.get(part).copied().unwrap_or(0.0))).filter(|(_, s)| *s > 0.0).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let machine = after.machine_busy_s - before.machine_busy_s;
    serde_json::json!({
        "wall_s": round(wall_s, 1),
        "reports": reports,
        "machine": row("the whole machine", machine),
        "parts": rows.iter().map(|(part, s)| row(part, *s)).collect::<Vec<_>>(),
    })
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process_line_whose_name_has_spaces() {
        let stat = "42 (tokio rt) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(process_seconds(stat), Some(3.0));
        assert_eq!(process_seconds("42 (cut"), None);
    }

    #[test]
    fn groups_postgres_processes_by_database() {
        assert_eq!(postgres_part("postgres: flywheel dispatch 127.0.0.1(5432) idle\0", "flywheel").as_deref(), Some("postgres: dispatch"));
        assert_eq!(postgres_part("postgres: checkpointer \0", "flywheel").as_deref(), Some("postgres: server"));
        assert_eq!(postgres_part("/usr/lib/postgresql/15/bin/postgres\0-D\0/tmp/pg\0", "flywheel"), None);
        assert_eq!(postgres_part("nats-server\0-js\0", "flywheel"), None);
    }

    #[test]
    fn machine_time_leaves_out_idle_and_io_wait() {
        let stat = "cpu  600 0 200 1000 100 50 50 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(machine_seconds(stat), Some((9.0, 20.0)));
    }

    #[test]
    fn the_difference_per_report_and_in_cores() {
        let before = Snapshot {
            uptime_s: 100.0,
            machine_busy_s: 10.0,
            machine_total_s: 40.0,
            parts: [("dispatch".into(), 1.0), ("gone".into(), 5.0)].into(),
            waits: [("dispatch".into(), 0.5)].into(),
        };
        let after = Snapshot {
            uptime_s: 110.0,
            machine_busy_s: 25.0,
            machine_total_s: 60.0,
            parts: [("dispatch".into(), 3.0), ("postgres: dispatch".into(), 4.0)].into(),
            waits: [("dispatch".into(), 2.5), ("postgres: dispatch".into(), 1.0)].into(),
        };
        let v = between(&before, &after, 1000.0);
        assert_eq!(v["machine"]["cores"], 1.5);
        assert_eq!(v["parts"][0]["part"], "postgres: dispatch");
        assert_eq!(v["parts"][0]["ms_per_report"], 4.0);
        assert_eq!(v["parts"][1]["cores"], 0.2);
        assert_eq!(v["parts"][1]["waited_ms_per_report"], 2.0);
        assert!(v["parts"][0]["waited_ms_per_report"].is_null(), "no wait without both snapshots' count");
        assert_eq!(v["parts"].as_array().unwrap().len(), 2, "a part gone by the second snapshot is left out");
    }

    #[test]
    fn snapshots_this_process_and_the_machine() {
        let args = CpuArgs { processes: vec![("bench".into(), std::process::id())], postgres_user: None, out: PathBuf::new() };
        let s = run(&args).unwrap();
        assert!(s.parts.contains_key("bench") && s.machine_total_s >= s.machine_busy_s && s.uptime_s > 0.0, "{s:?}");
        assert!(own_seconds().is_some_and(|own| own >= 0.0));
        assert!(machine_busy_seconds().is_some_and(|busy| busy <= s.machine_total_s + 1.0));
        assert!(BusyCores::start().so_far().is_some_and(|cores| cores >= 0.0));
    }

    #[test]
    fn reads_a_threads_wait_for_a_core() {
        assert_eq!(schedstat_wait_ns("183636109 6585727 357\n"), Some(6_585_727));
        assert_eq!(schedstat_wait_ns("183636109\n"), None);
        if Path::new("/proc/self/schedstat").exists() {
            assert!(wait_seconds(Path::new("/proc/self")).is_some_and(|w| w >= 0.0));
        }
    }

    #[test]
    fn reads_the_snapshots_a_run_wrote() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path(), 10.0, None).is_null());
        let snapshot = |uptime_s: f64, dispatch_s: f64| Snapshot {
            uptime_s,
            machine_busy_s: uptime_s,
            machine_total_s: 2.0 * uptime_s,
            parts: [("dispatch".into(), dispatch_s)].into(),
            waits: BTreeMap::new(),
        };
        std::fs::write(dir.path().join("cpu-before.json"), serde_json::to_string(&snapshot(10.0, 1.0)).unwrap()).unwrap();
        std::fs::write(dir.path().join("cpu-after.json"), serde_json::to_string(&snapshot(20.0, 2.0)).unwrap()).unwrap();
        let v = read(dir.path(), 10.0, Some(0.5));
        assert_eq!(v["wall_s"], 10.0);
        assert_eq!(v["parts"][0]["part"], "dispatch");
        assert_eq!(v["parts"][1]["part"], "the generator");
        assert_eq!(v["parts"][1]["ms_per_report"], 50.0);
    }
}
