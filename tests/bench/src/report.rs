//! `report`: gathers the results of every bench run into `report.json` and `report.md`, with a
//! description of the machine they ran on.

use serde_json::{Value, json};
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The directory the bench results were written to; the report goes there too.
    #[arg(long, default_value = "target/bench")]
    pub dir: PathBuf,
    /// Versions of the parts under test, as name=version (repeatable).
    #[arg(long = "version", value_parser = parse_pair)]
    pub versions: Vec<(String, String)>,
    /// A note about how the run was set up (database, load steps).
    #[arg(long, default_value = "")]
    pub note: String,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(a, b)| (a.to_owned(), b.to_owned())).ok_or_else(|| "expected name=value".into())
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let read = |name: &str| -> Value {
        std::fs::read_to_string(args.dir.join(format!("{name}.json"))).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null)
    };
    let machine = machine(&args.versions);
    let mut report = json!({
        "machine": machine,
        "note": args.note,
        "ceiling": read("ceiling"),
        "intake": read("intake"),
        "dispatch_scale": read("dispatch-scale"),
        "registry_scale": read("registry-scale"),
        "analytics_scale": read("analytics-scale"),
        "memory_idle": read("memory-idle"),
        "memory_peak": read("memory-peak"),
        "database_work": read("pg-profile"),
        "consumers": crate::consumers::read(&args.dir),
    });
    report["cpu"] = crate::cpu::read(&args.dir, accepted(&report), report["intake"]["generator_cpu_s"].as_f64());
    std::fs::write(args.dir.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(args.dir.join("report.md"), markdown(&report))?;
    eprintln!("report: {}", args.dir.join("report.md").display());
    Ok(())
}

fn machine(versions: &[(String, String)]) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_kb: Option<f64> = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).ok();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "ram_gib": ram_kb.map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0),
        "kernel": kernel,
        "versions": versions.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
    })
}

fn markdown(r: &Value) -> String {
    let mut md = String::from("# Flywheel benchmark report\n\n");
    let m = &r["machine"];
    let _ = writeln!(md, "Machine: {}, {} cores, {} GiB RAM, Linux {}.", text(&m["cpu"]), m["cores"], m["ram_gib"], text(&m["kernel"]));
    if let Some(versions) = m["versions"].as_object().filter(|v| !v.is_empty()) {
        let list: Vec<String> = versions.iter().map(|(k, v)| format!("{k} {}", text(v))).collect();
        let _ = writeln!(md, "Versions: {}.", list.join(", "));
    }
    if let Some(note) = r["note"].as_str().filter(|n| !n.is_empty()) {
        let _ = writeln!(md, "\n{note}");
    }
    let ceiling = r["ceiling"]["sustained_per_s"].as_f64();
    let intake = r["intake"]["sustained_per_s"].as_f64();
    md.push_str("\n## Intake (residents' reports, open loop)\n\n");
    md.push_str("| offered/s | achieved/s | errors | submit p50 / p99 ms | report → assigned p50 / p99 ms | of it, report → ticket created p50 / p99 ms | not assigned | report → KPI p50 / p99 ms | not counted | machine busy, cores |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for s in r["intake"]["steps"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} / {} | {} / {} | {} / {} | {} | {} / {} | {} | {} |",
            s["offered_per_s"], s["achieved_per_s"], errors(&s["errors"]), s["call"]["p50_ms"], s["call"]["p99_ms"],
            s["assigned"]["p50_ms"], s["assigned"]["p99_ms"], s["ticket_created"]["p50_ms"], s["ticket_created"]["p99_ms"], s["not_assigned"], s["kpi_visible"]["p50_ms"], s["kpi_visible"]["p99_ms"], s["kpi_missing"],
            or_na(&s["machine_busy_cores"])
        );
    }
    error_messages(&mut md, r["intake"]["steps"].as_array());
    md.push_str("\n## Ceiling (minimal server: unary call, one insert, one JetStream publish with ack)\n\n");
    md.push_str("| offered/s | achieved/s | errors | p50 / p99 ms |\n|---|---|---|---|\n");
    for s in r["ceiling"]["steps"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "| {} | {} | {} | {} / {} |", s["offered_per_s"], s["achieved_per_s"], errors(&s["errors"]), s["call"]["p50_ms"], s["call"]["p99_ms"]);
    }
    error_messages(&mut md, r["ceiling"]["steps"].as_array());
    if let (Some(i), Some(c)) = (intake, ceiling) {
        let ratio = if c > 0.0 { format!("{:.0}%", 100.0 * i / c) } else { "n/a".into() };
        let _ = writeln!(md, "\nSustained intake {i}/s; ceiling {c}/s; intake is {ratio} of the ceiling.");
    }
    database_work(&mut md, r);
    cpu(&mut md, r);
    consumers(&mut md, r);
    md.push_str("\n## Dispatch decision time by scale\n\n| crews | sites | covering crews per site | p50 ms | p99 ms |\n|---|---|---|---|---|\n");
    for s in r["dispatch_scale"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "| {} | {} | {} | {} | {} |", s["crews"], s["sites"], s["covering_per_site"], s["decision"]["p50_ms"], s["decision"]["p99_ms"]);
    }
    md.push_str("\n## Registry ListSites latency by scale\n\n| sites | query | sites returned | p50 ms | p99 ms |\n|---|---|---|---|---|\n");
    for size in r["registry_scale"].as_array().into_iter().flatten() {
        for q in size["queries"].as_array().into_iter().flatten() {
            let _ = writeln!(md, "| {} | {} | {} | {} | {} |", size["sites"], text(&q["query"]), q["returned"], q["latency"]["p50_ms"], q["latency"]["p99_ms"]);
        }
    }
    md.push_str("\n## Analytics query latency by data volume (a year of facts)\n\n| tickets | hour rows | query | range (days) | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n");
    for size in r["analytics_scale"].as_array().into_iter().flatten() {
        for q in size["queries"].as_array().into_iter().flatten() {
            let _ = writeln!(md, "| {} | {} | {} | {} | {} | {} |", size["tickets"], size["hour_rows"], text(&q["query"]), q["range_days"], q["latency"]["p50_ms"], q["latency"]["p99_ms"]);
        }
    }
    md.push_str("\n## Memory (MiB)\n\n| service | idle RSS | peak RSS (VmHWM) after the run |\n|---|---|---|\n");
    let peak = r["memory_peak"].as_array().cloned().unwrap_or_default();
    for idle in r["memory_idle"].as_array().into_iter().flatten() {
        let at_peak = peak.iter().find(|p| p["name"] == idle["name"]).map(|p| p["peak_rss_mib"].to_string()).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(md, "| {} | {} | {} |", text(&idle["name"]), idle["rss_mib"], at_peak);
    }
    md
}

/// Statements, commits and WAL per accepted report in each service's database over the intake
/// step (PostgreSQL's pg_stat_statements and pg_stat_database; the district's set-up included).
fn database_work(md: &mut String, r: &Value) {
    let Some(rows) = r["database_work"].as_array() else { return };
    let accepted = accepted(r);
    let per_report = |v: &Value, scale: f64| v.as_f64().filter(|_| accepted > 0.0).map_or("n/a".into(), |n| format!("{:.1}", n / scale / accepted));
    let _ = writeln!(md, "\n## Database work per accepted report ({accepted} reports over the intake steps)\n");
    md.push_str("| database | statements | per report | commits | per report | WAL kB a report | full-page images a report |\n|---|---|---|---|---|---|---|\n");
    for row in rows {
        let (statements, commits) = (&row["statements"], &row["commits"]);
        let (wal, fpi) = (per_report(&row["wal_bytes"], 1024.0), per_report(&row["wal_fpi"], 1.0));
        let _ = writeln!(md, "| {} | {statements} | {} | {commits} | {} | {wal} | {fpi} |", text(&row["database"]), per_report(statements, 1.0), per_report(commits, 1.0));
    }
}

/// The reports accepted over the intake steps.
fn accepted(r: &Value) -> f64 {
    r["intake"]["steps"].as_array().into_iter().flatten().filter_map(|s| s["ok"].as_f64()).sum()
}

/// CPU time of each process over the intake steps (warm-up and drain included), per report.
fn cpu(md: &mut String, r: &Value) {
    let c = &r["cpu"];
    let Some(parts) = c["parts"].as_array() else { return };
    let _ = writeln!(md, "\n## CPU over the intake steps ({} s, {} reports accepted)\n", c["wall_s"], accepted(r));
    md.push_str("| process | CPU s | cores | ms a report | waiting for a core, ms a report |\n|---|---|---|---|---|\n");
    for row in std::iter::once(&c["machine"]).chain(parts) {
        let _ = writeln!(md, "| {} | {} | {} | {} | {} |", text(&row["part"]), row["cpu_s"], row["cores"], row["ms_per_report"], or_na(&row["waited_ms_per_report"]));
    }
}

/// Each consumer's batches since its service started, the intake steps among them.
fn consumers(md: &mut String, r: &Value) {
    let Some(rows) = r["consumers"].as_array().filter(|rows| !rows.is_empty()) else { return };
    md.push_str("\n## Event consumers (since the services started)\n\n");
    md.push_str("| service | consumer | stream | batches | events | busy s | ms a batch | of it: inbox / handle / commit ms | events per busy s |\n|---|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        let phase = |p: &str| row["phase_ms"][p].as_f64().map_or("n/a".into(), |ms| ms.to_string());
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} |",
            text(&row["service"]), text(&row["consumer"]), text(&row["stream"]), row["batches"], row["events"], row["busy_s"], row["batch_ms"],
            phase("inbox"), phase("handle"), phase("commit"), row["events_per_busy_s"]
        );
    }
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

/// A number that a machine may not measure (no scheduler statistics, no `/proc/stat`).
fn or_na(v: &Value) -> String {
    if v.is_null() { "n/a".into() } else { text(v) }
}

/// Under a step table: the first message of each failing code, per step that had errors.
fn error_messages(md: &mut String, steps: Option<&Vec<Value>>) {
    for step in steps.into_iter().flatten() {
        for (code, message) in step["error_messages"].as_object().into_iter().flatten() {
            let _ = writeln!(md, "\n- at {}/s, {code}: {}", step["offered_per_s"], message.as_str().unwrap_or_default());
        }
    }
}

fn errors(v: &Value) -> String {
    match v.as_object() {
        Some(map) if !map.is_empty() => map.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", "),
        _ => "0".into(),
    }
}

/// Writes one bench's result as JSON, creating the directory.
pub fn write(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value)?)?;
    Ok(())
}
