//! The native API's OpenAPI document as a checker.
//!
//! [`Document`] turns the document into JSON Schema validators: a reply of a documented
//! operation must have a documented status, the documented `Content-Type` and a body
//! the status's schema accepts (NDJSON line by line); a reply to a request no operation
//! takes (an unknown path, a wrong method) must be an error in the `ErrorBody` envelope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

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
}
