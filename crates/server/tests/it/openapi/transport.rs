//! What every body-reading operation answers to a body too large or of the wrong type,
//! and the native envelope of wrong methods and unknown paths.

use std::io::Write;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use roster_server::EdgeLimits;
use roster_testkit::{s, TestServer, ADMIN_TOKEN};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::conformance::{expect, fill, read, Auth, Conformance};
use super::APPS;
use crate::edge::{read_reply, RawReply};

/// Every documented (method, path template).
fn operations(c: &Conformance) -> Vec<(Method, String)> {
    let mut ops = Vec::new();
    for (template, item) in c.json()["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let method: Method = method.to_ascii_uppercase().parse().expect("method");
            ops.push((method, template.clone()));
        }
    }
    ops
}

/// Arguments for a template's placeholders: the app, then `dev-1`, then `x`.
fn args<'a>(template: &str, app_id: &'a str) -> Vec<&'a str> {
    [app_id, "dev-1", "x"]
        .into_iter()
        .take(template.matches('{').count())
        .collect()
}

/// The credentials an operation takes.
fn auth(template: &str, app: &Value) -> Auth {
    if template.starts_with("/admin/") {
        Auth::Admin
    } else {
        Auth::app(app)
    }
}

/// 413 and 415 for every operation that reads a body, and a gzip body that is fine.
pub(crate) async fn body_transport(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    let huge = format!(
        "{{\"name\": \"{}\"}}",
        "x".repeat(roster_api_native::BODY_LIMIT + 1)
    );
    let with_body: Vec<(Method, String)> = operations(c)
        .into_iter()
        .filter(|(m, t)| {
            // A streamed body (bulk import) has no size limit.
            c.operation(m, t).is_some_and(|op| {
                op["requestBody"]["content"]
                    .get("application/json")
                    .is_some()
            })
        })
        .collect();
    assert!(
        with_body.len() >= 10,
        "operations with a body: {with_body:?}"
    );
    for (method, template) in &with_body {
        let args = args(template, id);
        let call = || {
            c.call(srv, method.clone(), template, &args)
                .auth(auth(template, app))
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

/// What every operation answers whatever its handler would: 415 to a `Content-Encoding`
/// roster cannot decode (with or without a body), and, where a path segment follows the
/// app's, 400 to one that is not percent-encoded UTF-8.
pub(crate) async fn edge_replies(c: &Conformance, srv: &TestServer, app: &Value) {
    let id = s(&app["app_id"]);
    for (method, template) in operations(c) {
        let args = args(&template, id);
        let call = || {
            c.call(srv, method.clone(), &template, &args)
                .auth(auth(&template, app))
        };
        let r = call()
            .raw("application/json", Vec::new(), Some("zstd-or-something"))
            .send()
            .await;
        assert_eq!(expect(&r, 415)["error"]["code"], "unsupported_media_type");
        if args.len() > 1 {
            let mut bad = args.clone();
            *bad.last_mut().expect("an argument") = "%FF";
            let r = c
                .call(srv, method.clone(), &template, &bad)
                .auth(auth(&template, app))
                .send()
                .await;
            assert_eq!(expect(&r, 400)["error"]["code"], "invalid_param");
        }
    }
}

/// Checks a reply read off a raw socket against the operation it was sent to.
fn check_raw(c: &Conformance, method: &Method, template: &str, r: &RawReply, want: u16) {
    let status = StatusCode::from_u16(r.status).expect("status");
    let text = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, want, "{method} {template}: {text}");
    assert_eq!(r.header("connection"), Some("close"), "{method} {template}");
    if let Err(e) = c.check_reply(method, template, status, r.header("content-type"), &text) {
        panic!("{method} {template} answered {status} {text}\n  not as documented: {e}");
    }
    c.note(method, template, status);
}

/// Sends `head` on a new connection and reads one reply; `None` if the connection was
/// closed without one.
async fn raw_reply(srv: &TestServer, head: &[u8]) -> Option<RawReply> {
    let addr = srv.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(head).await;
    read_reply(&mut stream).await
}

/// What the HTTP parser answers for any operation, before a route is known: 414 to a
/// request target over its limit, 431 to a header section over its limit.
pub(crate) async fn parser_refusals(c: &Conformance, srv: &TestServer) {
    for (method, template) in operations(c) {
        let path = fill(&template, &args(&template, "x"));
        let long = format!(
            "{method} {path}?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
            "a".repeat(70_000)
        );
        let r = raw_reply(srv, long.as_bytes()).await.expect("a reply");
        check_raw(c, &method, &template, &r, 414);
        let mut many = format!("{method} {path} HTTP/1.1\r\nhost: x\r\n");
        for i in 0..200 {
            many.push_str(&format!("x-filler-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        let r = raw_reply(srv, many.as_bytes()).await.expect("a reply");
        check_raw(c, &method, &template, &r, 431);
    }
}

/// What every operation answers on a connection over the cap: 503.
pub(crate) async fn over_the_cap(c: &Conformance) {
    let srv = TestServer::start_with_limits(EdgeLimits {
        max_connections: 1,
        ..EdgeLimits::default()
    })
    .await;
    let addr = srv.base.trim_start_matches("http://").to_owned();
    // The readiness probe's connection may hold the one slot for a moment after start.
    let mut first = None;
    for _ in 0..100 {
        let mut c = TcpStream::connect(&addr).await.expect("connect");
        c.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        if read_reply(&mut c).await.is_some_and(|r| r.status == 200) {
            first = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = first.expect("the one connection served");
    for (method, template) in operations(c) {
        let path = fill(&template, &args(&template, "x"));
        let head = format!("{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
        // The previous refused connection may still hold the server's one slot for
        // refusals for a moment; then a new one is closed without a reply.
        let mut reply = None;
        for _ in 0..100 {
            reply = raw_reply(&srv, head.as_bytes()).await;
            if reply.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = reply.expect("a reply on a connection over the cap");
        check_raw(c, &method, &template, &r, 503);
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    drop(held);
}

/// 429 from every per-app operation once the app's native request limit is used up
/// (here set to 0 per second), in the native envelope.
pub(crate) async fn rate_limited(c: &Conformance, srv: &TestServer) {
    let app = srv.create_app().await;
    let id = s(&app["app_id"]);
    let r = c
        .call(srv, Method::PUT, super::LIMIT, &[id, "native_request"])
        .auth(Auth::Admin)
        .json(serde_json::json!({ "per_second": 0 }))
        .send()
        .await;
    assert_eq!(expect(&r, 200)["per_second"], 0);
    for (method, template) in operations(c) {
        if !template.starts_with("/api/v1/apps/") {
            continue;
        }
        let r = c
            .call(srv, method.clone(), &template, &args(&template, id))
            .auth(auth(&template, &app))
            .send()
            .await;
        assert_eq!(
            expect(&r, 429)["error"]["code"],
            "rate_limited",
            "{method} {template}"
        );
    }
}
