//! Open311 GeoReport v2 over real HTTP, checked field by field against the specification's names
//! and formats, on the same reports as the gRPC API.

mod common;

use common::*;
use flywheel_feedback::settings::Settings;
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "city-portal-key";

/// One HTTP/1.1 exchange on the service's HTTP_ADDR: (status, JSON body).
async fn http(h: &Harness, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> (u16, Value) {
    let body = form.map(|f| f.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&"));
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: feedback\r\nConnection: close\r\n");
    if let Some(body) = &body {
        request += &format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", body.len());
    }
    request += "\r\n";
    request += body.as_deref().unwrap_or("");
    let mut stream = tokio::net::TcpStream::connect(h.service.http_addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(head.to_lowercase().contains("content-type: application/json"), "{head}");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The specification's error body: an array of one {code, description}.
fn assert_error(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    let errors = body.as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(keys(&errors[0]), ["code", "description"]);
    assert_eq!(errors[0]["code"], expected);
    assert!(!errors[0]["description"].as_str().unwrap().is_empty());
}

async fn harness() -> Harness {
    let mut h = Harness::with(Settings { open311_api_keys: vec![KEY.into()], ..Settings::default() }).await;
    h.district().await;
    h
}

#[tokio::test]
async fn services_come_from_the_catalog() {
    let h = harness().await;
    let (status, body) = http(&h, "GET", "/open311/v2/services.json", None).await;
    assert_eq!(status, 200);
    let services = body.as_array().unwrap();
    assert_eq!(services.len(), 1);
    let s = &services[0];
    assert_eq!(keys(s), ["description", "group", "keywords", "metadata", "service_code", "service_name", "type"]);
    assert_eq!(s["service_code"], "street-light-out");
    assert_eq!(s["service_name"], "Street light out");
    assert_eq!(s["metadata"], false);
    assert_eq!(s["type"], "realtime");
    assert_eq!(s["group"], "ASSETS / LIVING");

    let (status, body) = http(&h, "GET", "/open311/v2/services/street-light-out.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["service_code"], "street-light-out");
    assert_eq!(body["attributes"], Value::Array(vec![]));
    let (status, body) = http(&h, "GET", "/open311/v2/services/no-such.json", None).await;
    assert_error(status, &body, 404);
}

/// One HTTP/1.1 GET answered in XML: (status, body).
async fn get_xml(h: &Harness, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(h.service.http_addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: feedback\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.to_lowercase().contains("content-type: text/xml"), "{head}");
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
}

#[tokio::test]
async fn xml_is_served_with_the_specification_element_names() {
    let h = harness().await;
    let (status, body) = get_xml(&h, "/open311/v2/services.xml").await;
    assert_eq!(status, 200);
    assert!(body.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><services><service>"#), "{body}");
    assert!(body.contains("<service_code>street-light-out</service_code>"), "{body}");
    assert!(body.contains("<metadata>false</metadata>"), "{body}");
    assert!(body.ends_with("</service></services>"), "{body}");

    let form = [("api_key", KEY), ("service_code", "street-light-out"), ("lat", "23.1062"), ("long", "113.324"), ("description", "Lamp & post <14>")];
    let (_, created) = http(&h, "POST", "/open311/v2/requests.json", Some(&form)).await;
    let id = created[0]["service_request_id"].as_str().unwrap();
    let (status, body) = get_xml(&h, &format!("/open311/v2/requests/{id}.xml")).await;
    assert_eq!(status, 200);
    assert!(body.contains("<service_requests><request>"), "{body}");
    assert!(body.contains(&format!("<service_request_id>{id}</service_request_id>")), "{body}");
    assert!(body.contains("<description>Lamp &amp; post &lt;14&gt;</description>"), "{body}");
    assert!(body.contains("<status>open</status>"), "{body}");

    let (status, body) = get_xml(&h, "/open311/v2/requests/ZZZZ-ZZZZ.xml").await;
    assert_eq!(status, 404);
    assert!(body.contains("<errors><error><code>404</code><description>"), "{body}");
}

#[tokio::test]
async fn a_posted_request_is_a_report_and_follows_its_ticket() {
    let h = harness().await;
    let form = [
        ("api_key", KEY),
        ("service_code", "street-light-out"),
        ("lat", "23.1062"),
        ("long", "113.324"),
        ("description", "Lamp post 14 is dark"),
        ("first_name", "Li"),
        ("last_name", "Wei"),
        ("email", "li.wei@example.org"),
        ("media_url", "https://img.example.org/14.jpg"),
    ];
    let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&form)).await;
    assert_eq!(status, 201, "{body}");
    let created = &body.as_array().unwrap()[0];
    assert_eq!(keys(created), ["account_id", "service_notice", "service_request_id"]);
    let id = created["service_request_id"].as_str().unwrap().to_owned();
    assert!(created["account_id"].is_null());

    // The same report over gRPC, through the Open311 channel, contact kept apart.
    let report = h
        .client
        .clone()
        .get_report(staff(&h.auth, "ops", GetReportRequest { lookup: Some(get_report_request::Lookup::Id(id.clone())) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.channel, ReportChannel::Open311 as i32);
    assert_eq!(report.category_id, "cat-light");
    assert!(report.needs_field_work);
    let contact = h.client.clone().get_report_contact(staff(&h.auth, "ops", GetReportContactRequest { report_id: report.id.clone() })).await.unwrap().into_inner();
    assert_eq!(contact.contact.unwrap().name, "Li Wei");

    let (status, body) = http(&h, "GET", &format!("/open311/v2/requests/{id}.json"), None).await;
    assert_eq!(status, 200);
    let r = &body.as_array().unwrap()[0];
    assert_eq!(
        keys(r),
        [
            "address", "address_id", "agency_responsible", "description", "expected_datetime", "lat", "long", "media_url",
            "requested_datetime", "service_code", "service_name", "service_notice", "service_request_id", "status",
            "status_notes", "updated_datetime", "zipcode"
        ]
    );
    assert_eq!(r["service_request_id"], id.as_str());
    assert_eq!(r["status"], "open");
    assert_eq!(r["service_code"], "street-light-out");
    assert_eq!(r["service_name"], "Street light out");
    assert_eq!(r["description"], "Lamp post 14 is dark");
    assert_eq!(r["lat"], 23.1062);
    assert_eq!(r["long"], 113.324);
    assert_eq!(r["media_url"], "https://img.example.org/14.jpg");
    assert_eq!(r["address_id"], "site-tower");
    let requested = r["requested_datetime"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(requested).is_ok(), "{requested}");
    assert!(requested.ends_with("+00:00"), "{requested}");
    assert!(r["expected_datetime"].is_null());

    // Dispatch resolves the ticket: Open311 shows it closed, with the note.
    let resolved = ticket("ticket-1", &report, dispatch::TicketState::Resolved);
    let event = dispatch::TicketResolved { ticket: Some(resolved.clone()), resolution_note: "Lamp replaced".into(), ..Default::default() };
    h.publish(&ticket_event("resolved", &resolved, &event), true).await;
    h.wait_applied("FLYWHEEL_DISPATCH").await;
    let code = report.tracking_code.to_lowercase();
    let (_, body) = http(&h, "GET", &format!("/open311/v2/requests/{code}.json"), None).await;
    assert_eq!(body[0]["service_request_id"], report.id.as_str(), "the tracking code finds the same request");
    assert_eq!(body[0]["status"], "closed");
    assert_eq!(body[0]["status_notes"], "Lamp replaced");
}

#[tokio::test]
async fn requests_are_filtered_and_paged() {
    let h = harness().await;
    let post = |description: &'static str| {
        [("api_key", KEY), ("service_code", "street-light-out"), ("address_string", "222 yuejiang west road "), ("description", description)]
    };
    let mut ids = Vec::new();
    for d in ["one", "two", "three"] {
        let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&post(d))).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body[0]["service_request_id"].as_str().unwrap().to_owned());
    }
    let (_, all) = http(&h, "GET", "/open311/v2/requests.json?status=open&service_code=street-light-out", None).await;
    let descriptions: Vec<_> = all.as_array().unwrap().iter().map(|r| r["description"].as_str().unwrap()).collect();
    assert_eq!(descriptions, ["three", "two", "one"], "newest first");
    assert_eq!(all[0]["address"], "222 yuejiang west road", "the address as given");

    let (_, page2) = http(&h, "GET", "/open311/v2/requests.json?page=2&page_size=2", None).await;
    assert_eq!(page2.as_array().unwrap().len(), 1);
    assert_eq!(page2[0]["description"], "one");

    let list = format!("{},{}", ids[0], ids[2]);
    let (_, chosen) = http(&h, "GET", &format!("/open311/v2/requests.json?service_request_id={list}"), None).await;
    assert_eq!(chosen.as_array().unwrap().len(), 2);
    let (_, closed) = http(&h, "GET", "/open311/v2/requests.json?status=closed", None).await;
    assert_eq!(closed, Value::Array(vec![]));
    let (_, future) = http(&h, "GET", "/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z", None).await;
    assert_eq!(future, Value::Array(vec![]));
    let (_, window) = http(&h, "GET", "/open311/v2/requests.json?start_date=2020-01-01T00:00:00%2B08:00&end_date=2099-01-01", None).await;
    assert_eq!(window.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn without_configured_keys_any_client_may_post() {
    let mut h = Harness::start().await;
    h.district().await;
    let form = [("service_code", "street-light-out"), ("lat", "23.1062"), ("long", "113.324"), ("description", "dark")];
    let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&form)).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn failures_use_the_specification_error_format() {
    let h = harness().await;
    let mut form = vec![("service_code", "street-light-out"), ("lat", "23.1062"), ("long", "113.324"), ("description", "dark")];
    let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&form)).await;
    assert_error(status, &body, 403);
    form.push(("api_key", "wrong"));
    let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&form)).await;
    assert_error(status, &body, 403);

    let far = [("api_key", KEY), ("service_code", "street-light-out"), ("lat", "23.3"), ("long", "113.324")];
    let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&far)).await;
    assert_error(status, &body, 400);
    assert!(body[0]["description"].as_str().unwrap().contains("no managed site covers this location"));
    let unknown = [("api_key", KEY), ("service_code", "nope"), ("lat", "23.1062"), ("long", "113.324")];
    let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&unknown)).await;
    assert_error(status, &body, 404);
    let nowhere = [("api_key", KEY), ("service_code", "street-light-out")];
    let (status, body) = http(&h, "POST", "/open311/v2/requests.json", Some(&nowhere)).await;
    assert_error(status, &body, 400);

    let (status, body) = http(&h, "GET", "/open311/v2/requests/ZZZZ-ZZZZ.json", None).await;
    assert_error(status, &body, 404);
    let (status, body) = http(&h, "GET", "/open311/v2/requests.json?status=pending", None).await;
    assert_error(status, &body, 400);
    let (status, body) = http(&h, "GET", "/open311/v2/requests.json?start_date=yesterday", None).await;
    assert_error(status, &body, 400);
}
