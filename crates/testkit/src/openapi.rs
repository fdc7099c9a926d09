//! The native API's OpenAPI document as a checker, and a recorder of the native replies
//! a [`TestServer`](crate::TestServer) gives.
//!
//! [`Document`] turns the document into JSON Schema validators: a reply of a documented
//! operation must have a documented status, the documented `Content-Type` and a body
//! the status's schema accepts (NDJSON line by line); a reply to a request no operation
//! takes (an unknown path, a wrong method) must be an error in the `ErrorBody` envelope.
//! [`recorder`] is the layer the test server is wrapped in: it keeps every native reply
//! as an [`Exchange`], which [`Document::check_exchange`] then checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http_body_util::BodyExt;
use roster_edge::Dialect;
use serde_json::{json, Value};
use utoipa::OpenApi;

/// Getui's wording, which no native reply may use.
const GETUI_WORDING: [&str; 2] = ["url error", "target user is invalid"];

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

/// The path as the server routes it: leading and trailing slashes trimmed (the served
/// router sits behind `NormalizePathLayer::trim_trailing_slash`, which trims both).
pub fn routed_path(path: &str) -> String {
    format!("/{}", path.trim_matches('/'))
}

/// An OpenAPI document, turned into validators.
pub struct Document {
    doc: Value,
    /// `components.schemas` as JSON Schema `$defs`.
    defs: Value,
    /// Compiled validators, by the schema they were compiled from.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Document {
    /// Checks that every component is a valid JSON Schema 2020-12 whose patterns
    /// compile (panics otherwise), and keeps the document.
    pub fn new(doc: Value) -> Self {
        let defs = rewrite_refs(&doc["components"]["schemas"]);
        let names: Vec<String> = defs
            .as_object()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        assert!(!names.is_empty(), "no schemas");
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
        Document {
            doc,
            defs,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The document roster serves at `/openapi.json`, built once per process.
    pub fn native() -> &'static Document {
        static NATIVE: OnceLock<Document> = OnceLock::new();
        NATIVE.get_or_init(|| {
            let doc = serde_json::to_value(roster_api_native::ApiDoc::openapi())
                .expect("the OpenAPI document serialises");
            Document::new(doc)
        })
    }

    /// The document itself.
    pub fn json(&self) -> &Value {
        &self.doc
    }

    /// Errors of `instance` against an OpenAPI schema of the document.
    pub fn schema_errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let key = schema.to_string();
        let cached = self.validators.lock().expect("lock").get(&key).cloned();
        let validator = match cached {
            Some(v) => v,
            None => {
                let mut root = rewrite_refs(schema);
                let Some(obj) = root.as_object_mut() else {
                    return vec![format!("schema is not an object: {schema}")];
                };
                obj.insert("$defs".into(), self.defs.clone());
                obj.insert(
                    "$schema".into(),
                    json!("https://json-schema.org/draft/2020-12/schema"),
                );
                let v = match jsonschema::draft202012::new(&root) {
                    Ok(v) => Arc::new(v),
                    Err(e) => return vec![format!("the documented schema does not compile: {e}")],
                };
                self.validators.lock().expect("lock").insert(key, v.clone());
                v
            }
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("at {:?}: {e}", e.instance_path().as_str()))
            .collect()
    }

    /// The operation `method template`, if the document has it. Methods are
    /// case-sensitive: `get` is an extension method, not `GET`.
    pub fn operation(&self, method: &Method, template: &str) -> Option<&Value> {
        let name = method.as_str();
        if name.bytes().any(|b| b.is_ascii_lowercase()) {
            return None;
        }
        self.doc["paths"][template]
            .get(name.to_ascii_lowercase())
            .filter(|op| op.is_object())
    }

    /// The path template a concrete path falls under (`{x}` takes one non-empty
    /// segment), the one with the most literal segments where several do; the path is
    /// taken as routed ([`routed_path`]).
    pub fn template_of(&self, path: &str) -> Option<&str> {
        let path = routed_path(path);
        let segments: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (t, s) in parts.iter().zip(&segments) {
                    if t.starts_with('{') {
                        if s.is_empty() {
                            return None;
                        }
                    } else if t == s {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, template.as_str()))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, t)| t)
    }

    /// Errors of `body` against the documented JSON request schema of an operation
    /// (panics if the operation or its request schema is not documented).
    pub fn request_errors(&self, method: &Method, template: &str, body: &Value) -> Vec<String> {
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
    pub fn check_reply(
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
        self.check_body(reply, content_type, body)
    }

    /// Checks a body against a documented response object.
    pub fn check_body(
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
        // A CSV body is no JSON instance: its documented media type is all to check.
        if media == "text/csv" {
            return Ok(());
        }
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
    /// an error status, the native envelope, and for a path of the document a method
    /// the document does not claim.
    pub fn check_unrouted(
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
        if !(status.is_client_error() || status.is_server_error()) {
            return Err(format!(
                "{status} to a request that is no documented operation (only errors are \
                 expected there)"
            ));
        }
        let envelope = json!({
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        });
        self.check_body(&envelope, content_type, body)
    }

    /// Checks a recorded reply: against its operation when the method and path are one,
    /// as an error in the native envelope otherwise. `GET /openapi.json`, a healthy
    /// `GET /healthz`, `GET /version`, the readiness probe `GET /readyz` (200, or 503
    /// with its `status`) and a Prometheus scrape (`GET /metrics`) are exempt: they are
    /// no native API operations.
    pub fn check_exchange(&self, ex: &Exchange) -> Result<(), String> {
        let path = routed_path(&ex.path);
        let ok = ex.status == StatusCode::OK;
        let exempt = ex.method == Method::GET
            && match path.as_str() {
                "/openapi.json" | "/version" => ok,
                "/healthz" => ok && ex.body.as_ref() == br#"{"status":"ok"}"#,
                "/readyz" => ok || ex.status == StatusCode::SERVICE_UNAVAILABLE,
                "/metrics" => {
                    ok && ex
                        .content_type
                        .as_deref()
                        .is_some_and(|c| c.starts_with("text/plain; version=0.0.4"))
                }
                _ => false,
            };
        if exempt {
            return Ok(());
        }
        let body = ex.decoded_body()?;
        let body = std::str::from_utf8(&body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
        let ct = ex.content_type.as_deref();
        match self.template_of(&path) {
            Some(t) if self.operation(&ex.method, t).is_some() => {
                self.check_reply(&ex.method, t, ex.status, ct, body)
            }
            t => self.check_unrouted(&ex.method, t, ex.status, ct, body),
        }
    }

    /// What is wrong with each of `exchanges`, one line each, empty when all conform.
    pub fn violations(&self, exchanges: &[Exchange]) -> Vec<String> {
        exchanges
            .iter()
            .filter_map(|ex| {
                self.check_exchange(ex)
                    .err()
                    .map(|e| format!("{ex}\n    {e}"))
            })
            .collect()
    }
}

/// One native reply as the client received it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request method.
    pub method: Method,
    /// The request path, as sent (no query).
    pub path: String,
    /// The reply status.
    pub status: StatusCode,
    /// The reply's `Content-Type`.
    pub content_type: Option<String>,
    /// The reply's `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// The reply body, as sent (compressed if it was).
    pub body: Bytes,
}

impl Exchange {
    /// The body with its `Content-Encoding` undone.
    pub fn decoded_body(&self) -> Result<Vec<u8>, String> {
        match self.content_encoding.as_deref().map(str::trim) {
            None | Some("identity") => Ok(self.body.to_vec()),
            Some("gzip") => crate::gunzip(&self.body),
            Some(other) => Err(format!("unknown Content-Encoding {other:?}")),
        }
    }
}

impl std::fmt::Display for Exchange {
    /// `METHOD path -> status (content type): body excerpt`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = self.decoded_body().unwrap_or_else(|_| self.body.to_vec());
        let text = String::from_utf8_lossy(&body);
        let mut excerpt: String = text.chars().take(200).collect();
        if text.chars().nth(200).is_some() {
            excerpt.push('…');
        }
        let path: String = self.path.chars().take(120).collect();
        write!(
            f,
            "{} {path} -> {} ({}): {excerpt}",
            self.method,
            self.status.as_u16(),
            self.content_type.as_deref().unwrap_or("no content type"),
        )
    }
}

/// Where [`recorder`] keeps the replies it saw.
#[derive(Debug, Clone, Default)]
pub struct Recording(Arc<Mutex<Vec<Exchange>>>);

impl Recording {
    /// Takes the replies recorded so far.
    pub fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }

    /// A copy of the replies recorded so far.
    pub fn snapshot(&self) -> Vec<Exchange> {
        self.0.lock().expect("lock").clone()
    }

    fn push(&self, ex: Exchange) {
        self.0.lock().expect("lock").push(ex);
    }
}

/// Wraps a router (the whole served one, for `roster_server::start_wrapped`) so that
/// every reply to a native path (by [`Dialect::of_path`] of the routed path), `HEAD`
/// aside, is buffered, recorded in `recording` and sent on unchanged: the same bytes,
/// with a length when the original body had one, chunked otherwise. A reply whose body
/// fails midway is not recorded, and is sent on failing at once; one whose client went
/// away is never finished, so never recorded either.
pub fn recorder(recording: Recording) -> impl FnOnce(Router) -> Router {
    move |app| app.layer(axum::middleware::from_fn_with_state(recording, record))
}

async fn record(State(recording): State<Recording>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if method == Method::HEAD || Dialect::of_path(&routed_path(&path)) != Dialect::Native {
        return next.run(req).await;
    }
    let (parts, body) = next.run(req).await.into_parts();
    if parts.extensions.get::<roster_edge::Unbuffered>().is_some() {
        // A live stream (a followed feed) has no end to wait for; it goes through as is.
        return Response::from_parts(parts, body);
    }
    let sized = body.size_hint().exact().is_some();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let failing = futures_util::stream::once(async move { Err::<Bytes, _>(e) });
            return Response::from_parts(parts, Body::from_stream(failing));
        }
    };
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    recording.push(Exchange {
        method,
        path,
        status: parts.status,
        content_type: header(CONTENT_TYPE),
        content_encoding: header(CONTENT_ENCODING),
        body: bytes.clone(),
    });
    let body = if sized {
        Body::from(bytes)
    } else {
        Body::from_stream(futures_util::stream::once(async move {
            Ok::<_, axum::Error>(bytes)
        }))
    };
    Response::from_parts(parts, body)
}
