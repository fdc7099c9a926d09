//! The openapi test's own driver: requests to every operation, each reply checked
//! against the served document as it arrives (with the test kit's [`Document`]), and
//! which documented replies the run has seen.

use std::collections::BTreeSet;
use std::sync::Mutex;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use roster_testkit::openapi::Document;
use roster_testkit::{s, TestServer, ADMIN_TOKEN};
use serde_json::Value;

/// What a request carries.
#[derive(Clone)]
pub(crate) enum Payload {
    None,
    Json(Value),
    /// Raw bytes with a content type and an optional content encoding.
    Raw(&'static str, Vec<u8>, Option<&'static str>),
}

/// Who a request claims to be.
#[derive(Clone)]
pub(crate) enum Auth {
    None,
    Admin,
    WrongBearer,
    App(String, String),
}

impl Auth {
    pub(crate) fn app(app: &Value) -> Auth {
        Auth::App(
            s(&app["getui"]["app_key"]).to_owned(),
            s(&app["getui"]["master_secret"]).to_owned(),
        )
    }
}

/// The document's checker (see [`Document`]) and what the run has seen.
pub(crate) struct Conformance {
    doc: Document,
    /// (method, path template, status) answered.
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

impl std::ops::Deref for Conformance {
    type Target = Document;

    fn deref(&self) -> &Document {
        &self.doc
    }
}

impl Conformance {
    pub(crate) fn new(doc: Value) -> Self {
        Conformance {
            doc: Document::new(doc),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Notes a reply the document describes as exercised.
    pub(crate) fn note(&self, method: &Method, template: &str, status: StatusCode) {
        self.seen.lock().expect("lock").insert((
            method.to_string(),
            template.to_owned(),
            status.as_u16(),
        ));
    }

    /// Documented (method, template, status) triples the run never saw, 500 aside (it
    /// needs a failing store).
    pub(crate) fn unexercised(&self) -> Vec<String> {
        let seen = self.seen.lock().expect("lock");
        let mut missing = Vec::new();
        for (template, item) in self.json()["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let Some(responses) = op["responses"].as_object() else {
                    continue;
                };
                for status in responses.keys() {
                    let code: u16 = status.parse().expect("numeric status");
                    let key = (method.to_ascii_uppercase(), template.clone(), code);
                    if code != 500 && !seen.contains(&key) {
                        missing.push(format!("{} {} -> {}", key.0, key.1, key.2));
                    }
                }
            }
        }
        missing
    }
}

/// One request of the run.
pub(crate) struct Call<'c> {
    c: &'c Conformance,
    srv: &'c TestServer,
    method: Method,
    template: &'c str,
    path: String,
    auth: Auth,
    payload: Payload,
    /// The refusal depends on stored state (an unknown identity name, a new device
    /// without `phone_type`), so the request schema cannot see it.
    state_dependent: bool,
}

/// A reply: status and JSON body (`Null` when empty or NDJSON).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) text: String,
}

pub(crate) fn fill(template: &str, args: &[&str]) -> String {
    let mut path = template.to_owned();
    for a in args {
        let start = path.find('{').expect("more arguments than placeholders");
        let end = start + path[start..].find('}').expect("closing brace");
        path.replace_range(start..=end, a);
    }
    assert!(!path.contains('{'), "too few arguments for {template}");
    path
}

impl<'c> Call<'c> {
    pub(crate) fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Appends `?query` to the path.
    pub(crate) fn query(mut self, query: &str) -> Self {
        self.path = format!("{}?{query}", self.path);
        self
    }

    pub(crate) fn json(mut self, body: Value) -> Self {
        self.payload = Payload::Json(body);
        self
    }

    pub(crate) fn raw(
        mut self,
        content_type: &'static str,
        bytes: Vec<u8>,
        enc: Option<&'static str>,
    ) -> Self {
        self.payload = Payload::Raw(content_type, bytes, enc);
        self
    }

    pub(crate) fn state_dependent(mut self) -> Self {
        self.state_dependent = true;
        self
    }

    pub(crate) async fn send(self) -> Reply {
        let mut req = self.srv.http.request(
            self.method.clone(),
            format!("{}{}", self.srv.base, self.path),
        );
        req = match &self.auth {
            Auth::None => req,
            Auth::Admin => req.bearer_auth(ADMIN_TOKEN),
            Auth::WrongBearer => req.bearer_auth("not-the-token"),
            Auth::App(user, pass) => req.basic_auth(user, Some(pass)),
        };
        req = match &self.payload {
            Payload::None => req,
            Payload::Json(v) => req.json(v),
            Payload::Raw(ct, bytes, enc) => {
                let req = req.header(CONTENT_TYPE, *ct).body(bytes.clone());
                match enc {
                    Some(e) => req.header(CONTENT_ENCODING, *e),
                    None => req,
                }
            }
        };
        let (status, content_type, text) = read(req).await;
        let what = format!("{} {} ({})", self.method, self.path, self.template);
        if let Err(e) = self.c.check_reply(
            &self.method,
            self.template,
            status,
            content_type.as_deref(),
            &text,
        ) {
            panic!("{what} answered {status} {text}\n  not as documented: {e}");
        }
        self.c.note(&self.method, self.template, status);
        if let Payload::Json(body) = &self.payload {
            let errors = self.c.request_errors(&self.method, self.template, body);
            let refused_as_malformed = status == StatusCode::BAD_REQUEST && !self.state_dependent;
            if refused_as_malformed && errors.is_empty() {
                panic!(
                    "{what}: the server refused {body} ({text}) but the documented request \
                     schema accepts it"
                );
            }
            if !refused_as_malformed && status != StatusCode::BAD_REQUEST && !errors.is_empty() {
                panic!(
                    "{what}: the server answered {status} to {body} but the documented request \
                     schema refuses it: {errors:?}"
                );
            }
        }
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }
}

impl Conformance {
    pub(crate) fn call<'c>(
        &'c self,
        srv: &'c TestServer,
        method: Method,
        template: &'c str,
        args: &[&str],
    ) -> Call<'c> {
        Call {
            c: self,
            srv,
            method,
            template,
            path: fill(template, args),
            auth: Auth::None,
            payload: Payload::None,
            state_dependent: false,
        }
    }
}

/// Sends a request and reads its status, `Content-Type` and body.
pub(crate) async fn read(req: reqwest::RequestBuilder) -> (StatusCode, Option<String>, String) {
    let r = req.send().await.expect("send");
    let status = r.status();
    let content_type = r
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, content_type, r.text().await.expect("body"))
}

/// Asserts a status, showing the reply otherwise.
pub(crate) fn expect(r: &Reply, status: u16) -> &Value {
    assert_eq!(r.status.as_u16(), status, "reply: {}", r.text);
    &r.body
}
