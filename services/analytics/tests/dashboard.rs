//! The dashboard, loaded in headless Chromium: the charts render with the numbers of the events.

mod common;

use common::*;

/// The DOM Chromium builds from the page, after load.
async fn dump_dom(url: &str) -> String {
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium must be installed (scripts/ensure-tools.sh installs it)");
    let profile = tempfile::TempDir::new().unwrap();
    let out = tokio::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The markup from `marker` to the end of its element group.
fn part<'a>(dom: &'a str, marker: &str, end: &str) -> &'a str {
    let start = dom.find(marker).unwrap_or_else(|| panic!("{marker} not in the page:\n{dom}"));
    let rest = &dom[start..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[tokio::test]
async fn the_dashboard_renders_the_numbers_in_chromium() {
    let mut h = Harness::start().await;
    let now = chrono::Utc::now().timestamp_micros();
    let w = registry_world(&h, now - 40 * 24 * HOUR).await;
    story(&h, &w, now - 10 * HOUR).await;
    h.caught_up().await;

    let dom = dump_dom(&format!("http://{}/", h.http_addr())).await;
    assert!(dom.contains("http-equiv=\"refresh\""), "the page refreshes itself");

    // SAFETY x LIVING is row 0, column 1 of the heat map.
    let cell = part(&dom, "data-cell=\"0-1\"", "</g>");
    for text in ["volume 2", "SLA 50.0%", "CSAT 4.00"] {
        assert!(cell.contains(text), "{text} in {cell}");
    }
    let empty = part(&dom, "data-cell=\"2-2\"", "</g>");
    assert!(empty.contains("volume 0") && empty.contains("SLA –"), "{empty}");

    let sla = part(&dom, "id=\"sla-trend\"", "</section>");
    assert!(sla.contains("<polyline") && sla.contains("Whole period: 50.0%"), "{sla}");
    let csat = part(&dom, "id=\"csat-trend\"", "</section>");
    assert!(csat.contains("Whole period: 4.00"), "{csat}");

    let league = part(&dom, "id=\"league\"", "</section>");
    assert!(league.contains("<td>CT Site CT</td><td>–</td><td>2</td>"), "{league}");

    // The district's name arrives with markup in it: it must be text, not an element.
    let density = part(&dom, "id=\"density\"", "</section>");
    assert!(density.contains("Haizhu &lt;District&gt;"), "{density}");
    assert!(!dom.contains("<district>"));
    assert!(density.contains("<text class=\"count\"") && density.contains(">2</text>"), "{density}");
}
