//! The dashboard on HTTP_ADDR: one self-refreshing HTML page with the scenario matrix as a heat
//! map, SLA and CSAT trends, the site league and district density. Charts are server-side SVG;
//! every value from the data is HTML-escaped.

use crate::app::Analytics;
use crate::convert::{time_range, timestamp_us};
use crate::domain::time::{HOUR_US, hour_floor};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use flywheel_proto::flywheel::analytics::v1 as pb;
use std::fmt::Write;

pub fn router(analytics: Analytics) -> axum::Router {
    axum::Router::new().route("/", get(page)).with_state(analytics)
}

async fn page(State(analytics): State<Analytics>) -> Response {
    match render(&analytics).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            let status: tonic::Status = e.into();
            (StatusCode::SERVICE_UNAVAILABLE, format!("dashboard unavailable: {}", status.message())).into_response()
        }
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a chart writes its values.
type Format = fn(Option<f64>) -> String;

fn percent(v: Option<f64>) -> String {
    v.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "–".to_owned())
}

fn csat(v: Option<f64>) -> String {
    v.map(|c| format!("{c:.2}")).unwrap_or_else(|| "–".to_owned())
}

async fn render(a: &Analytics) -> flywheel_runtime::Result<String> {
    let settings = a.settings();
    let end = hour_floor(flywheel_runtime::db::now_micros()) + HOUR_US;
    let span = crate::domain::time::Span { start_us: end - settings.dashboard_days * 24 * HOUR_US, end_us: end };
    let range = Some(time_range(span));
    let matrix = a.get_scenario_matrix(pb::GetScenarioMatrixRequest { time_range: range, ..Default::default() }).await?;
    let trends = a
        .get_trends(pb::GetTrendsRequest {
            time_range: range,
            granularity: pb::Granularity::Day as i32,
            metrics: vec![pb::TrendMetric::SlaComplianceRatio as i32, pb::TrendMetric::CsatMean as i32],
            ..Default::default()
        })
        .await?;
    let league = a
        .get_site_league(pb::GetSiteLeagueRequest { time_range: range, include_unranked: true, page_size: 20, ..Default::default() })
        .await?;
    let flywheel = a.get_flywheel_indicators(pb::GetFlywheelIndicatorsRequest { time_range: range, ..Default::default() }).await?;

    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{}\">\
         <title>Flywheel analytics</title><style>{STYLE}</style></head><body>\
         <h1>Flywheel analytics</h1><p class=\"range\">Last {} days, zone {}</p>",
        settings.dashboard_refresh_s,
        settings.dashboard_days,
        escape(settings.time_zone.name()),
    );
    h.push_str(&heat_map(&matrix));
    for series in &trends.series {
        let (title, id, scale, fmt): (&str, &str, f64, Format) =
            if series.metric == pb::TrendMetric::SlaComplianceRatio as i32 {
                ("SLA compliance by day", "sla-trend", 1.0, percent)
            } else {
                ("CSAT by day (1–5)", "csat-trend", 5.0, csat)
            };
        h.push_str(&line_chart(title, id, series, scale, fmt));
    }
    h.push_str(&league_table(&league));
    h.push_str(&density_chart(&flywheel));
    h.push_str("</body></html>");
    Ok(h)
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}section{margin-bottom:2em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
th:first-child,td:first-child{text-align:left}svg text{font-size:12px}";

/// The 3x3 matrix: colour by SLA compliance, each cell labelled with volume, SLA and CSAT.
fn heat_map(m: &pb::GetScenarioMatrixResponse) -> String {
    let (cw, ch, left, top) = (170.0, 80.0, 110.0, 30.0);
    let mut s = String::from("<section id=\"matrix\"><h2>Scenario matrix</h2><svg role=\"img\" aria-label=\"scenario matrix heat map\" width=\"640\" height=\"290\">");
    for (i, p) in ["PRODUCTION", "LIVING", "ECOLOGY"].iter().enumerate() {
        let _ = write!(s, "<text x=\"{}\" y=\"20\" text-anchor=\"middle\">{p}</text>", left + cw * (i as f64 + 0.5));
    }
    for (i, cell) in m.cells.iter().enumerate() {
        let (row, col) = (i / 3, i % 3);
        if col == 0 {
            let d = ["SAFETY", "IMAGE", "ASSETS"][row];
            let _ = write!(s, "<text x=\"0\" y=\"{}\">{d}</text>", top + ch * (row as f64 + 0.5));
        }
        // Red (0%) to green (100%); grey when nothing was resolved.
        let fill = cell
            .sla_compliance_ratio
            .map(|r| format!("hsl({:.0},70%,55%)", r.clamp(0.0, 1.0) * 120.0))
            .unwrap_or_else(|| "#ddd".to_owned());
        let (x, y) = (left + cw * col as f64, top + ch * row as f64);
        let _ = write!(
            s,
            "<g class=\"cell\" data-cell=\"{row}-{col}\"><rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"#fff\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"volume\">volume {}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"sla\">SLA {}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"csat\">CSAT {}</text></g>",
            cw - 2.0, ch - 2.0,
            x + cw / 2.0, y + 22.0, cell.volume,
            x + cw / 2.0, y + 42.0, escape(&percent(cell.sla_compliance_ratio)),
            x + cw / 2.0, y + 62.0, escape(&csat(cell.csat_mean)),
        );
    }
    s.push_str("</svg></section>");
    s
}

/// A line over the buckets that have a value, each point labelled.
fn line_chart(title: &str, id: &str, series: &pb::TrendSeries, max: f64, fmt: Format) -> String {
    let (w, hgt, pad) = (640.0, 200.0, 30.0);
    let n = series.points.len().max(2) as f64;
    let mut s = format!("<section id=\"{id}\"><h2>{}</h2><svg role=\"img\" width=\"{w}\" height=\"{hgt}\">", escape(title));
    let _ = write!(s, "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>", hgt - pad, w - pad, hgt - pad);
    let mut points = Vec::new();
    for (i, p) in series.points.iter().enumerate() {
        let Some(v) = p.value else { continue };
        let x = pad + (w - 2.0 * pad) * i as f64 / (n - 1.0);
        let y = hgt - pad - (hgt - 2.0 * pad) * (v / max).clamp(0.0, 1.0);
        points.push(format!("{x:.1},{y:.1}"));
        let day = p.start_time.as_ref().map(timestamp_us).unwrap_or(0);
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" data-start-us=\"{day}\"/><text class=\"point\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y - 6.0,
            escape(&fmt(Some(v))),
        );
    }
    let _ = write!(s, "<polyline fill=\"none\" stroke=\"#36c\" stroke-width=\"2\" points=\"{}\"/>", points.join(" "));
    let _ = write!(s, "</svg><p class=\"total\">Whole period: {}</p></section>", escape(&fmt(series.total)));
    s
}

fn league_table(l: &pb::GetSiteLeagueResponse) -> String {
    let mut s = format!(
        "<section id=\"league\"><h2>Site league</h2><p>Ranked by the composite score; at least {} resolutions to be ranked.</p>\
         <table><tr><th>Site</th><th>Rank</th><th>Resolved</th><th>Score</th><th>SLA</th><th>CSAT</th></tr>",
        l.min_volume
    );
    for e in &l.entries {
        let k = e.kpis.unwrap_or_default();
        let rank = if e.ranked { e.rank.to_string() } else { "–".to_owned() };
        let _ = write!(
            s,
            "<tr class=\"site\"><td>{}</td><td>{rank}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&format!("{} {}", e.site_code, e.site_name)),
            e.volume,
            e.score.map(|x| format!("{x:.1}")).unwrap_or_else(|| "–".to_owned()),
            escape(&percent(k.sla_compliance_ratio)),
            escape(&csat(k.csat_mean)),
        );
    }
    s.push_str("</table></section>");
    s
}

/// Managed sites per district, as horizontal bars.
fn density_chart(f: &pb::GetFlywheelIndicatorsResponse) -> String {
    let max = f.districts.iter().map(|d| d.managed_sites).max().unwrap_or(0).max(1) as f64;
    let height = 30 + 28 * f.districts.len();
    let mut s = format!("<section id=\"density\"><h2>District density (managed sites)</h2><svg role=\"img\" width=\"640\" height=\"{height}\">");
    for (i, d) in f.districts.iter().enumerate() {
        let y = 10 + 28 * i;
        let width = 400.0 * f64::from(d.managed_sites) / max;
        let _ = write!(
            s,
            "<g class=\"district\"><text x=\"0\" y=\"{}\">{}</text><rect x=\"150\" y=\"{y}\" width=\"{width:.1}\" height=\"20\" fill=\"#6a9\"/>\
             <text class=\"count\" x=\"{:.1}\" y=\"{}\">{}</text></g>",
            y + 15,
            escape(&d.name),
            156.0 + width,
            y + 15,
            d.managed_sites,
        );
    }
    let happiness = f.overall_happiness.as_ref().and_then(|h| h.value);
    let _ = write!(s, "</svg><p class=\"happiness\">Happiness index: {}</p></section>", happiness.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".to_owned()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        let cases = [
            ("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            ("a & \"b\"", "a &amp; &quot;b&quot;"),
            ("plain", "plain"),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want);
        }
    }
}
