//! What every body-reading operation answers to a body too large or of the wrong type,
//! and the native envelope of wrong methods and unknown paths.

use std::io::Write;

use reqwest::{Method, StatusCode};
use roster_testkit::{s, TestServer, ADMIN_TOKEN};
use serde_json::Value;

use super::conformance::{expect, read, Auth, Conformance};
use super::APPS;

/// 413 and 415 for every operation that reads a body, and a gzip body that is fine.
pub(crate) async fn body_transport(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let huge = format!(
        "{{\"name\": \"{}\"}}",
        "x".repeat(roster_api_native::BODY_LIMIT + 1)
    );
    let mut with_body = Vec::new();
    for (template, item) in c.json()["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("requestBody").is_some() {
                let method: Method = method.to_ascii_uppercase().parse().expect("method");
                with_body.push((method, template.clone()));
            }
        }
    }
    assert!(
        with_body.len() >= 10,
        "operations with a body: {with_body:?}"
    );
    for (method, template) in &with_body {
        let auth = if template.starts_with("/admin/") {
            Auth::Admin
        } else {
            Auth::app(app)
        };
        let args = [id, "dev-1"];
        let args = &args[..template.matches('{').count()];
        let call = || {
            c.call(srv, method.clone(), template, args)
                .auth(auth.clone())
        };
        let r = call()
            .raw("application/json", huge.clone().into_bytes(), None)
            .send()
            .await;
        assert_eq!(expect(&r, 413)["error"]["code"], "payload_too_large");
        let r = call().raw("text/plain", b"{}".to_vec(), None).send().await;
        assert_eq!(expect(&r, 415)["error"]["code"], "unsupported_media_type");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(br#"{"name": "gzip"}"#).expect("gzip");
    let r = c
        .call(srv, Method::POST, APPS, &[])
        .auth(Auth::Admin)
        .raw("application/json", gz.finish().expect("gzip"), Some("gzip"))
        .send()
        .await;
    expect(&r, 201);
}

/// Wrong methods and unknown paths answer in the native envelope.
pub(crate) async fn unrouted(c: &Conformance, srv: &TestServer) {
    let templates: Vec<String> = c.json()["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    for template in &templates {
        let path = template
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            if c.operation(&method, template).is_some() {
                continue;
            }
            let req = srv
                .http
                .request(method.clone(), format!("{}{path}", srv.base))
                .bearer_auth(ADMIN_TOKEN);
            let (status, ct, text) = read(req).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {text}"
            );
            if let Err(e) = c.check_unrouted(&method, Some(template), status, ct.as_deref(), &text)
            {
                panic!("{method} {path} answered {status} {text}: {e}");
            }
        }
    }
    for path in ["/api/v1/nope", "/admin/v1/apps/x/nope", "/api/v2/apps"] {
        let (status, ct, text) = read(srv.http.get(format!("{}{path}", srv.base))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        if let Err(e) = c.check_unrouted(&Method::GET, None, status, ct.as_deref(), &text) {
            panic!("GET {path} answered {status} {text}: {e}");
        }
    }
}
