//! Plain JSON calls to any dialect, as the admin or with one of an app's Basic-auth
//! pairs ([`Creds`]); [`Native`], the native API as one app; and [`Fixture`], a server
//! with an app and its devices.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{s, Getui, TestServer, ADMIN_TOKEN};

/// Which of an app's Basic-auth pairs a call sends: the section of the credentials
/// `app create` returns, and its user and password fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    section: &'static str,
    user: &'static str,
    pass: &'static str,
}

impl Creds {
    /// Getui's key and secret, also the native API's Basic auth.
    pub const NATIVE: Creds = Creds::new("getui", "app_key", "master_secret");
    /// UMS's app-wide access key.
    pub const UMS: Creds = Creds::new("ums", "access_key", "access_secret");
    /// UMS's default channel.
    pub const UMS_CHANNEL: Creds = Creds::new("ums", "channel_key", "channel_master_secret");
    /// Jiguang Growth's project.
    pub const GROWTH: Creds = Creds::new("growth", "project_id", "project_secret");
    /// EngageLab's API key.
    pub const ENGAGELAB: Creds = Creds::new("engagelab", "api_key", "api_secret");

    const fn new(section: &'static str, user: &'static str, pass: &'static str) -> Self {
        Creds {
            section,
            user,
            pass,
        }
    }

    /// The user and password in `app`'s credentials.
    pub fn of(self, app: &Value) -> (&str, &str) {
        let c = &app[self.section];
        (s(&c[self.user]), s(&c[self.pass]))
    }
}

/// Who a call is made as.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    /// No credentials.
    Nobody,
    /// The admin bearer token.
    Admin,
    /// Another bearer token.
    Bearer(&'a str),
    /// A Basic-auth user and password.
    Basic(&'a str, &'a str),
    /// One of an app's Basic-auth pairs.
    App(&'a Value, Creds),
}

/// A request for `method {base}{path}` as `who`.
pub fn request(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    who: As<'_>,
) -> reqwest::RequestBuilder {
    let req = http.request(method, format!("{base}{path}"));
    match who {
        As::Nobody => req,
        As::Admin => req.bearer_auth(ADMIN_TOKEN),
        As::Bearer(token) => req.bearer_auth(token),
        As::Basic(user, pass) => req.basic_auth(user, Some(pass)),
        As::App(app, creds) => {
            let (user, pass) = creds.of(app);
            req.basic_auth(user, Some(pass))
        }
    }
}

/// Sends `req`, with `body` as JSON when there is one; returns the status and the JSON
/// reply (`null` for an empty body; panics on a body that is not JSON).
pub async fn send(req: reqwest::RequestBuilder, body: Option<&Value>) -> (StatusCode, Value) {
    let req = match body {
        Some(body) => req.json(body),
        None => req,
    };
    let r = req.send().await.expect("send");
    let status = r.status();
    let text = r.text().await.expect("body");
    if text.is_empty() {
        return (status, Value::Null);
    }
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("reply is not JSON ({status}): {text}"));
    (status, body)
}

impl TestServer {
    /// A request to this server as `who`.
    pub fn request(&self, method: Method, path: &str, who: As<'_>) -> reqwest::RequestBuilder {
        request(&self.http, &self.base, method, path, who)
    }

    /// A JSON call to this server as `who` (see [`send`]).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: As<'_>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        send(self.request(method, path, who), body).await
    }

    /// `POST path` with a JSON body, as one of `app`'s Basic-auth pairs.
    pub async fn post_as(
        &self,
        app: &Value,
        creds: Creds,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, path, As::App(app, creds), Some(&body))
            .await
    }

    /// A call as the admin, with a JSON body when there is one.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, As::Admin, body.as_ref()).await
    }

    /// The native API as `app`.
    pub fn native<'a>(&'a self, app: &'a Value) -> Native<'a> {
        Native { srv: self, app }
    }
}

/// The native API as one app: paths are below `/api/v1/apps/{app_id}`, with the app's
/// Basic auth.
pub struct Native<'a> {
    srv: &'a TestServer,
    app: &'a Value,
}

impl Native<'_> {
    /// A request below the app's path, with its Basic auth.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let path = format!("/api/v1/apps/{}{path}", s(&self.app["app_id"]));
        self.srv
            .request(method, &path, As::App(self.app, Creds::NATIVE))
    }

    /// A JSON call below the app's path (see [`send`]).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        send(self.request(method, path), body).await
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&body)).await
    }

    /// One device as the native API shows it (asserts that it exists).
    pub async fn device(&self, cid: &str) -> Value {
        let (status, device) = self.get(&format!("/devices/{cid}")).await;
        assert_eq!(status, StatusCode::OK, "device {cid}: {device}");
        device
    }
}

/// A server with one app, devices registered in it and a Getui client for it: where
/// most tests start.
pub struct Fixture {
    /// The server.
    pub srv: TestServer,
    /// The app's credentials, as `app create` returns them.
    pub app: Value,
    /// An authenticated Getui client for the app.
    pub getui: Getui,
    /// The devices' cids, in the order given.
    pub cids: Vec<String>,
}

impl Fixture {
    /// Starts a server, creates an app, registers `devices` (a JSON array of native
    /// device upserts) in it and authenticates a Getui client.
    pub async fn start(devices: Value) -> Fixture {
        let srv = TestServer::start().await;
        let app = srv.create_app().await;
        let cids = srv.register(&app, devices).await;
        let getui = srv.getui(&app).await;
        Fixture {
            srv,
            app,
            getui,
            cids,
        }
    }
}

/// The limited actions, in the order the admin API lists them.
pub const LIMIT_ACTIONS: [&str; 8] = [
    "getui_auth",
    "getui_tag_overwrite",
    "getui_tag_batch",
    "getui_bind_dt",
    "getui_call",
    "growth_register",
    "engagelab_profile",
    "native_request",
];

/// Switches every window of each of `actions` off for `app` (through the admin API of
/// the server at `base`), for tests of other behaviour that call a limited endpoint more
/// often than the vendor allows; `&[]` lifts every action's.
pub async fn lift_limits(http: &reqwest::Client, base: &str, app: &Value, actions: &[&str]) {
    let actions = if actions.is_empty() {
        &LIMIT_ACTIONS[..]
    } else {
        actions
    };
    for action in actions {
        let off = if *action == "getui_tag_overwrite" {
            serde_json::json!({ "per_cid_per_day": null })
        } else {
            serde_json::json!({ "per_second": null, "per_minute": null, "per_day": null })
        };
        let r = http
            .put(format!(
                "{base}/admin/v1/apps/{}/limits/{action}",
                s(&app["app_id"])
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&off)
            .send()
            .await
            .expect("lift limits");
        assert_eq!(r.status(), StatusCode::OK, "lift {action}");
    }
}
