//! The admin operations through their success and error paths; each reply is checked
//! by [`Conformance`] as it arrives.

use reqwest::Method;
use roster_testkit::{s, TestServer};
use serde_json::json;

use super::conformance::{expect, Auth, Conformance};
use super::{APP, APPS, CHANNELS, DT_TYPES, GRANT, IDENTITY_NAMES, ROTATE, SENDERS};

pub(crate) async fn calls(c: &Conformance, srv: &TestServer) {
    let post = |t, args: &[&str]| c.call(srv, Method::POST, t, args);
    // apps
    let app = post(APPS, &[])
        .auth(Auth::Admin)
        .json(json!({ "name": "conformance" }))
        .send()
        .await;
    let app = expect(&app, 201).clone();
    let id = s(&app["app_id"]).to_owned();
    let id = id.as_str();
    for auth in [Auth::None, Auth::WrongBearer, Auth::app(&app)] {
        let r = post(APPS, &[])
            .auth(auth)
            .json(json!({ "name": "x" }))
            .send()
            .await;
        expect(&r, 401);
    }
    for bad in [
        json!({}),
        json!({ "name": " " }),
        json!({ "name": "" }),
        json!({ "name": "n".repeat(129) }),
        json!({ "name": 7 }),
        json!({ "name": "x", "owner": "me" }),
        json!(["x"]),
    ] {
        expect(
            &post(APPS, &[]).auth(Auth::Admin).json(bad).send().await,
            400,
        );
    }

    // bind_dt types
    let put = |t, args: &[&str]| c.call(srv, Method::PUT, t, args);
    let r = put(DT_TYPES, &[id])
        .auth(Auth::Admin)
        .json(json!({ "types": ["xm", "hw", "wx", "xm"] }))
        .send()
        .await;
    assert_eq!(expect(&r, 200)["types"], json!(["wx", "hw", "xm"]));
    for bad in [
        json!({ "types": ["zz"] }),
        json!({ "types": "hw" }),
        json!({}),
        json!({ "types": [], "also": 1 }),
    ] {
        expect(
            &put(DT_TYPES, &[id])
                .auth(Auth::Admin)
                .json(bad)
                .send()
                .await,
            400,
        );
    }
    for unknown in ["NoSuchApp0000000000000", "not.an.id"] {
        let r = put(DT_TYPES, &[unknown])
            .auth(Auth::Admin)
            .json(json!({ "types": [] }))
            .send()
            .await;
        expect(&r, 404);
    }
    let r = put(DT_TYPES, &[id])
        .json(json!({ "types": [] }))
        .send()
        .await;
    expect(&r, 401);

    // identity names
    let name = json!({ "name": "email_hash", "unique": true, "priority": 1 });
    let r = post(IDENTITY_NAMES, &[id])
        .auth(Auth::Admin)
        .json(name.clone())
        .send()
        .await;
    assert_eq!(expect(&r, 201), &name);
    for taken in [
        name.clone(),
        json!({ "name": "user_id", "unique": true, "priority": 2 }),
    ] {
        expect(
            &post(IDENTITY_NAMES, &[id])
                .auth(Auth::Admin)
                .json(taken)
                .send()
                .await,
            409,
        );
    }
    for bad in [
        json!({ "name": "bad-name", "unique": true, "priority": 1 }),
        json!({ "name": "", "unique": true, "priority": 1 }),
        json!({ "name": "n".repeat(65), "unique": true, "priority": 1 }),
        json!({ "name": "ok", "unique": true, "priority": 0 }),
        json!({ "name": "ok", "unique": true, "priority": -1 }),
        json!({ "name": "ok", "priority": 1 }),
        json!({ "name": "ok", "unique": true, "priority": 1, "kind": "x" }),
    ] {
        expect(
            &post(IDENTITY_NAMES, &[id])
                .auth(Auth::Admin)
                .json(bad)
                .send()
                .await,
            400,
        );
    }
    let r = post(IDENTITY_NAMES, &["NoSuchApp0000000000000"])
        .auth(Auth::Admin)
        .json(json!({ "name": "other", "unique": false, "priority": 3 }))
        .send()
        .await;
    expect(&r, 404);
    expect(&post(IDENTITY_NAMES, &[id]).json(name).send().await, 401);

    // channels
    let r = post(CHANNELS, &[id])
        .auth(Auth::Admin)
        .json(json!({}))
        .send()
        .await;
    assert!(s(&expect(&r, 201)["channel_code"]).starts_with("ch_"));
    let code = json!({ "channel_code": "频道_conformance" });
    let r = post(CHANNELS, &[id])
        .auth(Auth::Admin)
        .json(code.clone())
        .send()
        .await;
    let channel = s(&expect(&r, 201)["channel_key"]).to_owned();
    expect(
        &post(CHANNELS, &[id])
            .auth(Auth::Admin)
            .json(code)
            .send()
            .await,
        409,
    );
    for bad in [
        json!({ "channel_code": "" }),
        json!({ "channel_code": "c".repeat(65) }),
        json!({ "channel_code": 5 }),
        json!({ "code": "x" }),
    ] {
        expect(
            &post(CHANNELS, &[id])
                .auth(Auth::Admin)
                .json(bad)
                .send()
                .await,
            400,
        );
    }
    let r = post(CHANNELS, &["NoSuchApp0000000000000"])
        .auth(Auth::Admin)
        .json(json!({}))
        .send()
        .await;
    expect(&r, 404);
    expect(&post(CHANNELS, &[id]).json(json!({})).send().await, 401);

    // senders
    let r = post(SENDERS, &[id])
        .auth(Auth::Admin)
        .json(json!({ "kind": "wechatoa" }))
        .send()
        .await;
    assert_eq!(expect(&r, 201)["kind"], "wechatoa");
    let sender = json!({ "kind": "app", "code": "s_conformance" });
    let r = post(SENDERS, &[id])
        .auth(Auth::Admin)
        .json(sender.clone())
        .send()
        .await;
    assert_eq!(expect(&r, 201), &sender);
    expect(
        &post(SENDERS, &[id])
            .auth(Auth::Admin)
            .json(sender)
            .send()
            .await,
        409,
    );
    for bad in [
        json!({ "kind": "fax" }),
        json!({ "kind": "app", "code": "all" }),
        json!({ "kind": "app", "code": "" }),
        json!({ "kind": "app", "code": "c".repeat(65) }),
        json!({ "code": "x" }),
        json!({ "kind": "app", "channel": "x" }),
    ] {
        expect(
            &post(SENDERS, &[id])
                .auth(Auth::Admin)
                .json(bad)
                .send()
                .await,
            400,
        );
    }
    let r = post(SENDERS, &["NoSuchApp0000000000000"])
        .auth(Auth::Admin)
        .json(json!({ "kind": "app" }))
        .send()
        .await;
    expect(&r, 404);
    expect(
        &post(SENDERS, &[id])
            .json(json!({ "kind": "app" }))
            .send()
            .await,
        401,
    );

    // grants
    for _ in 0..2 {
        let r = put(GRANT, &[id, &channel, "s_conformance"])
            .auth(Auth::Admin)
            .send()
            .await;
        expect(&r, 204);
    }
    for args in [
        [id, "nochannel", "s_conformance"],
        [id, channel.as_str(), "nosender"],
        ["NoSuchApp0000000000000", channel.as_str(), "s_conformance"],
    ] {
        expect(&put(GRANT, &args).auth(Auth::Admin).send().await, 404);
    }
    let r = put(GRANT, &[id, &channel, "s_conformance"])
        .auth(Auth::WrongBearer)
        .send()
        .await;
    expect(&r, 401);

    apps(c, srv).await;
}

/// The app lifecycle: list, show, rename, delete, rotate.
async fn apps(c: &Conformance, srv: &TestServer) {
    let call = |m, t, args: &[&str]| c.call(srv, m, t, args);
    let mk = || async {
        let r = call(Method::POST, APPS, &[])
            .auth(Auth::Admin)
            .json(json!({ "name": "lifecycle" }))
            .send()
            .await;
        expect(&r, 201).clone()
    };
    let app = mk().await;
    let id = s(&app["app_id"]).to_owned();
    let id = id.as_str();

    // list
    let r = call(Method::GET, APPS, &[])
        .auth(Auth::Admin)
        .query("limit=1")
        .send()
        .await;
    assert!(expect(&r, 200)["next_cursor"].is_string());
    for q in [
        "limit=0",
        "limit=501",
        "limit=x",
        "cursor=bm9wZQ",
        "owner=me",
    ] {
        expect(
            &call(Method::GET, APPS, &[])
                .auth(Auth::Admin)
                .query(q)
                .send()
                .await,
            400,
        );
    }
    expect(&call(Method::GET, APPS, &[]).send().await, 401);

    // show
    let r = call(Method::GET, APP, &[id]).auth(Auth::Admin).send().await;
    assert_eq!(expect(&r, 200)["app_id"], id);
    for unknown in ["NoSuchApp0000000000000", "not.an.id"] {
        expect(
            &call(Method::GET, APP, &[unknown])
                .auth(Auth::Admin)
                .send()
                .await,
            404,
        );
    }
    expect(
        &call(Method::GET, APP, &[id])
            .auth(Auth::WrongBearer)
            .send()
            .await,
        401,
    );

    // rename
    let r = call(Method::PATCH, APP, &[id])
        .auth(Auth::Admin)
        .json(json!({ "name": "renamed" }))
        .send()
        .await;
    assert_eq!(expect(&r, 200)["name"], "renamed");
    for bad in [
        json!({ "name": " " }),
        json!({ "name": "n".repeat(129) }),
        json!({ "name": "x", "owner": "me" }),
        json!({ "name": 7 }),
    ] {
        expect(
            &call(Method::PATCH, APP, &[id])
                .auth(Auth::Admin)
                .json(bad)
                .send()
                .await,
            400,
        );
    }
    let r = call(Method::PATCH, APP, &["NoSuchApp0000000000000"])
        .auth(Auth::Admin)
        .json(json!({ "name": "x" }))
        .send()
        .await;
    expect(&r, 404);
    expect(
        &call(Method::PATCH, APP, &[id])
            .json(json!({ "name": "x" }))
            .send()
            .await,
        401,
    );

    // rotate
    for dialect in ["getui", "ums", "growth", "engagelab"] {
        let r = call(Method::POST, ROTATE, &[id, dialect])
            .auth(Auth::Admin)
            .query("grace_seconds=60")
            .send()
            .await;
        assert_eq!(expect(&r, 200)["dialect"], dialect);
    }
    for (dialect, q) in [
        ("native", "grace_seconds=1"),
        ("getui", "grace_seconds=-1"),
        ("getui", "grace_seconds=2592001"),
        ("getui", "grace_seconds=1.5"),
        ("getui", "grace=1"),
    ] {
        let r = call(Method::POST, ROTATE, &[id, dialect])
            .auth(Auth::Admin)
            .query(q)
            .send()
            .await;
        expect(&r, 400);
    }
    let r = call(Method::POST, ROTATE, &["NoSuchApp0000000000000", "ums"])
        .auth(Auth::Admin)
        .send()
        .await;
    expect(&r, 404);
    expect(&call(Method::POST, ROTATE, &[id, "ums"]).send().await, 401);

    // delete
    let doomed = mk().await;
    let doomed = s(&doomed["app_id"]).to_owned();
    for q in ["", "confirm=NoSuchApp0000000000000", "confirm=x&also=1"] {
        let r = call(Method::DELETE, APP, &[&doomed])
            .auth(Auth::Admin)
            .query(q)
            .send()
            .await;
        expect(&r, 400);
    }
    let r = call(Method::DELETE, APP, &[&doomed])
        .query(&format!("confirm={doomed}"))
        .send()
        .await;
    expect(&r, 401);
    for status in [204, 404] {
        let r = call(Method::DELETE, APP, &[&doomed])
            .auth(Auth::Admin)
            .query(&format!("confirm={doomed}"))
            .send()
            .await;
        expect(&r, status);
    }
}
