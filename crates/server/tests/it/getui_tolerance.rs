//! What the official SDKs send that a strict server would refuse.

use reqwest::Method;
use roster_testkit::{Fixture, Getui, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn setup() -> (TestServer, Getui, Vec<String>) {
    let f = Fixture::start(json!([{ "phone_type": "android" }, { "phone_type": "ios" }])).await;
    (f.srv, f.getui, f.cids)
}

#[tokio::test]
async fn null_and_empty_bodies_on_bodiless_calls() {
    let (_srv, g, cids) = setup().await;
    let path = format!("/user/black/cid/{}", cids[0]);
    assert_eq!(
        g.call(Method::POST, &path, Some("null".into()))
            .await
            .code(),
        0
    );
    assert_eq!(
        g.call(Method::DELETE, &path, Some(String::new()))
            .await
            .code(),
        0
    );
    assert_eq!(g.call(Method::POST, &path, None).await.code(), 0);
    // a body on GET is ignored
    let r = g
        .call(
            Method::GET,
            &format!("/user/status/{}", cids[0]),
            Some("{\"x\":1}".into()),
        )
        .await;
    assert_eq!(r.code(), 0);
    // a null body where one is needed is "can not be empty", not a parse error
    g.call(Method::POST, "/user/alias", Some("null".into()))
        .await
        .param_error("data_list can not be empty");
    // text that is not JSON is Getui's code 1
    let r = g
        .call(Method::POST, "/user/alias", Some("{oops".into()))
        .await;
    assert_eq!(r.code(), 1);
}

#[tokio::test]
async fn content_type_is_optional_and_trailing_slashes_work() {
    let (srv, g, cids) = setup().await;
    let r = srv
        .http
        .post(format!("{}/user/alias/", g.base))
        .header("token", &g.token)
        .header("sdkVersion", "4.1.0")
        .body(json!({ "data_list": [{ "cid": cids[0], "alias": "a1" }] }).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = srv
        .http
        .get(format!("{}/user/alias/cid/{}/", g.base, cids[0]))
        .header("token", &g.token)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.json::<Value>().await.expect("json")["data"]["alias"],
        "a1"
    );
}

#[tokio::test]
async fn percent_encoding_in_either_case_and_raw_utf8() {
    let (srv, g, cids) = setup().await;
    g.post(
        "/user/alias",
        json!({ "data_list": [{ "cid": cids[0], "alias": "张三" }] }),
    )
    .await
    .ok();
    for path in [
        "/user/cid/alias/%E5%BC%A0%E4%B8%89",
        "/user/cid/alias/%e5%bc%a0%e4%b8%89",
    ] {
        assert_eq!(g.get(path).await.ok()["cid"], json!([cids[0]]), "{path}");
    }
    // raw UTF-8 bytes in the request line, as some clients send them
    let addr = srv.base.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let app_path = g
        .base
        .split_once("/v2/")
        .map(|(_, p)| p)
        .unwrap_or_default();
    let req = format!(
        "GET /v2/{app_path}/user/cid/alias/张三 HTTP/1.1\r\nHost: {addr}\r\ntoken: {}\r\nConnection: close\r\n\r\n",
        g.token
    );
    sock.write_all(req.as_bytes()).await.expect("write");
    let mut reply = String::new();
    sock.read_to_string(&mut reply).await.expect("read");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains(&cids[0]), "{reply}");
}

#[tokio::test]
async fn comma_in_path_may_be_encoded() {
    let (_srv, g, cids) = setup().await;
    let r = g
        .get(&format!("/user/status/{}%2C{}", cids[0], cids[1]))
        .await;
    assert_eq!(r.ok().as_object().map(|m| m.len()), Some(2));
}

#[tokio::test]
async fn every_error_is_a_json_envelope() {
    let (srv, g, _) = setup().await;
    let r = g.get("/user/no-such-thing").await;
    assert_eq!((r.status, r.code()), (404, 404));
    let r = g.call(Method::PATCH, "/user/alias", None).await;
    assert_eq!((r.status, r.code()), (405, 405));
    let r = g.call(Method::GET, "/auth", None).await;
    assert_eq!((r.status, r.code()), (405, 405));
    // unknown paths outside /v2 get the native envelope
    let r = srv
        .http
        .get(format!("{}/nope", srv.base))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn gzip_is_offered_and_honoured() {
    let (srv, g, cids) = setup().await;
    let r = srv
        .http
        .get(format!("{}/user/detail/{}", g.base, cids[0]))
        .header("token", &g.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    // reqwest without its gzip feature leaves the body compressed: check the header
    // and the gzip magic bytes.
    let enc = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let bytes = r.bytes().await.expect("bytes");
    if enc.as_deref() == Some("gzip") {
        assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    } else {
        // small replies may be left uncompressed; they must still be JSON
        serde_json::from_slice::<Value>(&bytes).expect("json");
    }
}
