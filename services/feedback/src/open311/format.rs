//! The two representations GeoReport v2 serves, chosen by the path's extension: JSON, and XML
//! with the specification's element names (`<services><service>…`, `<errors><error>…`).

use super::wire::Failure;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// `services.json` → ("services", Json); other extensions are not served.
pub fn split(file: &str) -> Result<(&str, Format), Failure> {
    let parsed = match file.rsplit_once('.') {
        Some((name, "json")) => Some((name, Format::Json)),
        Some((name, "xml")) => Some((name, Format::Xml)),
        _ => None,
    };
    parsed
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| Failure::not_found("only the .json and .xml formats are served"))
}

/// The body in `format`: a list becomes `<root><item>…</item>…</root>` in XML, an object
/// `<root>…</root>`.
pub fn render<T: Serialize>(format: Format, status: StatusCode, root: &str, item: &str, body: &T) -> Response {
    let value = match serde_json::to_value(body) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "an Open311 body did not serialise");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    match format {
        Format::Json => (status, axum::Json(value)).into_response(),
        Format::Xml => {
            let mut out = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
            element(&mut out, root, item, &value);
            (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response()
        }
    }
}

fn element(out: &mut String, name: &str, item: &str, value: &Value) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(&b.to_string()),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => escape(out, s),
        Value::Array(items) => {
            for v in items {
                element(out, item, "item", v);
            }
        }
        Value::Object(fields) => {
            for (key, v) in fields {
                // Nested lists (a service's attributes) hold elements named in the singular.
                element(out, key, key.trim_end_matches('s'), v);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_pick_the_format() {
        assert_eq!(split("services.json").unwrap(), ("services", Format::Json));
        assert_eq!(split("7KQ4-MX2P.xml").unwrap(), ("7KQ4-MX2P", Format::Xml));
        assert!(split("services.csv").is_err());
        assert!(split(".json").is_err());
    }

    #[test]
    fn lists_become_named_elements_with_escaped_text() {
        let mut out = String::new();
        let body = serde_json::json!([{"code": 400, "description": "a < b & \"c\""}]);
        element(&mut out, "errors", "error", &body);
        assert_eq!(out, "<errors><error><code>400</code><description>a &lt; b &amp; &quot;c&quot;</description></error></errors>");
        let mut out = String::new();
        element(&mut out, "service_definition", "", &serde_json::json!({"attributes": [], "service_code": "x", "v": null}));
        assert_eq!(out, "<service_definition><attributes></attributes><service_code>x</service_code><v></v></service_definition>");
    }
}
