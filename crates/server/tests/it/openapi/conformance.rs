//! The served document as a checker: replies against their documented status and
//! schema, requests against their documented request schema.

use std::collections::BTreeSet;
use std::sync::Mutex;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use roster_testkit::{s, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};

/// Getui's wording, which no native reply may use.
const GETUI_WORDING: [&str; 2] = ["url error", "target user is invalid"];

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

/// The document, turned into validators, and what the run has seen.
pub(crate) struct Conformance {
    pub(crate) doc: Value,
    /// `components.schemas` as JSON Schema `$defs`.
    defs: Value,
    /// (method, path template, status) answered.
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

/// The JSON Schema 2020-12 form of an OpenAPI 3.1 schema: references into
/// `#/components/schemas/` point into `#/$defs/` instead.
fn rewrite_refs(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => (
                        k.clone(),
                        Value::String(r.replace("#/components/schemas/", "#/$defs/")),
                    ),
                    _ => (k.clone(), rewrite_refs(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}

impl Conformance {
    pub(crate) fn new(doc: Value) -> Self {
        let defs = rewrite_refs(&doc["components"]["schemas"]);
        let names: Vec<String> = defs
            .as_object()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        assert!(!names.is_empty(), "no schemas");
        // Every component is a valid JSON Schema 2020-12 whose patterns compile.
        for name in names {
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": format!("#/$defs/{name}"),
                "$defs": defs.clone(),
            });
            if let Err(e) = jsonschema::meta::validate(&defs[&name]) {
                panic!("components.schemas.{name} is not a JSON Schema: {e}");
            }
            if let Err(e) = jsonschema::draft202012::new(&root) {
                panic!("components.schemas.{name} does not compile: {e}");
            }
        }
        Conformance {
            doc,
            defs,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Errors of `instance` against an OpenAPI schema of the document.
    pub(crate) fn schema_errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let mut root = rewrite_refs(schema);
        let Some(obj) = root.as_object_mut() else {
            return vec![format!("schema is not an object: {schema}")];
        };
        obj.insert("$defs".into(), self.defs.clone());
        obj.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        let validator = match jsonschema::draft202012::new(&root) {
            Ok(v) => v,
            Err(e) => return vec![format!("the documented schema does not compile: {e}")],
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("at {:?}: {e}", e.instance_path().as_str()))
            .collect()
    }

    pub(crate) fn operation(&self, method: &Method, template: &str) -> Option<&Value> {
        self.doc["paths"][template]
            .get(method.as_str().to_ascii_lowercase())
            .filter(|op| op.is_object())
    }

    /// Whether the documented request schema of an operation accepts `body`.
    pub(crate) fn request_errors(
        &self,
        method: &Method,
        template: &str,
        body: &Value,
    ) -> Vec<String> {
        let op = self
            .operation(method, template)
            .unwrap_or_else(|| panic!("{method} {template} is not documented"));
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {template} documents no JSON request body"
        );
        self.schema_errors(schema, body)
    }

    /// Checks one reply of a documented operation against the document.
    pub(crate) fn check_reply(
        &self,
        method: &Method,
        template: &str,
        status: StatusCode,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        let op = self
            .operation(method, template)
            .ok_or_else(|| format!("{method} {template} is not a documented operation"))?;
        let documented: Vec<&String> = op["responses"]
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        let reply = op["responses"].get(status.as_str()).ok_or_else(|| {
            format!("status {status} is not documented (documented: {documented:?})")
        })?;
        self.check_body(reply, content_type, body)?;
        self.seen.lock().expect("lock").insert((
            method.to_string(),
            template.to_owned(),
            status.as_u16(),
        ));
        Ok(())
    }

    /// Checks a body against a documented response object.
    pub(crate) fn check_body(
        &self,
        reply: &Value,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        let Some(content) = reply["content"].as_object() else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("documented without a body, but one came: {body}"))
            };
        };
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim)
            .ok_or("no Content-Type on a reply documented with a body")?;
        let schema = &content.get(media).ok_or_else(|| {
            format!(
                "Content-Type {media} is not documented (documented: {:?})",
                content.keys().collect::<Vec<_>>()
            )
        })?["schema"];
        let instances: Vec<Value> = if media == "application/x-ndjson" {
            body.lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("a line is not JSON ({e}): {body}"))?
        } else {
            vec![serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?]
        };
        for instance in &instances {
            let errors = self.schema_errors(schema, instance);
            if !errors.is_empty() {
                return Err(format!(
                    "the body does not match the documented schema: {errors:?}; body: {instance}"
                ));
            }
            let message = instance["error"]["message"].as_str().unwrap_or_default();
            if let Some(w) = GETUI_WORDING.iter().find(|w| message.contains(*w)) {
                return Err(format!(
                    "a native reply uses Getui's wording {w:?}: {instance}"
                ));
            }
        }
        Ok(())
    }

    /// Checks a reply to a request no operation takes (a wrong method, an unknown path):
    /// the native envelope, and for 405 a method the document does not claim.
    pub(crate) fn check_unrouted(
        &self,
        method: &Method,
        template: Option<&str>,
        status: StatusCode,
        content_type: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        if let Some(t) = template {
            if self.operation(method, t).is_some() {
                return Err(format!("{method} {t} is documented but answered {status}"));
            }
        }
        let envelope = json!({
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        });
        self.check_body(&envelope, content_type, body)
    }

    /// Documented (method, template, status) triples the run never saw, 500 aside (it
    /// needs a failing store).
    pub(crate) fn unexercised(&self) -> Vec<String> {
        let seen = self.seen.lock().expect("lock");
        let mut missing = Vec::new();
        for (template, item) in self.doc["paths"].as_object().expect("paths") {
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

fn fill(template: &str, args: &[&str]) -> String {
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
