//! UMS `POST /v1/user/opt` and `POST /v1/user/delete`.

use axum::extract::State;
use axum::Json as JsonReply;
use roster_core::ums::{
    validate_userid, BindKind, UmsChange, UmsField, UmsUserChanges, UmsVerb, BIND_ALL,
    USERS_PER_REQUEST,
};
use roster_core::UserId;
use roster_store::UmsConfig;
use serde_json::{json, Map, Value};

pub(crate) mod error;

use crate::auth::UmsAuth;
use crate::body::Json;
use roster_edge::Refusal as EdgeRefusal;

use crate::JiguangState;
use error::UmsError;

/// Why one user was refused: UMS errcode (a string) and message.
type Refusal = (&'static str, String);

fn invalid(msg: impl Into<String>) -> Refusal {
    ("4004", msg.into())
}

/// Checks that the caller may write `bind_id` for `field`.
fn check_bind(
    field: UmsField,
    bind_id: &str,
    auth: &UmsAuth,
    cfg: &UmsConfig,
) -> Result<(), Refusal> {
    let f = field.as_str();
    match field.bind_kind() {
        BindKind::AllOnly if bind_id == BIND_ALL => Ok(()),
        BindKind::AllOnly => Err(invalid(format!("{f} takes bind id all only"))),
        BindKind::AllOrChannel if bind_id == BIND_ALL => Ok(()),
        BindKind::AllOrChannel => {
            if !cfg.channels.iter().any(|(k, _)| k == bind_id) {
                return Err(invalid(format!(
                    "bind id of {f} is not a channel key of this app"
                )));
            }
            match &auth.channel {
                Some(own) if own != bind_id => Err((
                    "4005",
                    format!("this channel may not write {f} of another channel"),
                )),
                _ => Ok(()),
            }
        }
        BindKind::Sender(kind) => {
            let Some((_, k)) = cfg.senders.iter().find(|(c, _)| c == bind_id) else {
                return Err(invalid(format!(
                    "bind id of {f} is not a sender code of this app"
                )));
            };
            if *k != kind {
                return Err(invalid(format!(
                    "bind id of {f} is not a {} sender",
                    kind.as_str()
                )));
            }
            match &auth.channel {
                Some(own) if !cfg.grants.iter().any(|(c, s)| c == own && s == bind_id) => Err((
                    "4005",
                    format!("this channel is not authorised for the sender of {f}"),
                )),
                _ => Ok(()),
            }
        }
    }
}

fn strings(v: &Value, f: &str) -> Result<Vec<String>, Refusal> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("{f} values must be strings")))
            })
            .collect(),
        _ => Err(invalid(format!(
            "{f} must be a string or a list of strings"
        ))),
    }
}

/// The (bind id, values) pairs of one field of one verb.
fn entries(field: UmsField, v: &Value) -> Result<Vec<(String, Vec<String>)>, Refusal> {
    let f = field.as_str();
    match field {
        // A bare value, or {"all": value}.
        UmsField::Dingtalkcc | UmsField::Wechatwk | UmsField::WechatwkLinkedcorp
            if !v.is_object() =>
        {
            if field != UmsField::WechatwkLinkedcorp && !v.is_string() {
                return Err(invalid(format!("{f} must be a string")));
            }
            Ok(vec![(BIND_ALL.to_owned(), strings(v, f)?)])
        }
        _ => {
            let obj = v
                .as_object()
                .ok_or_else(|| invalid(format!("{f} must be an object of bind ids")))?;
            let mut out = Vec::with_capacity(obj.len());
            for (bind, vals) in obj {
                if !field.multi() && !vals.is_string() {
                    return Err(invalid(format!("{f} holds one value per bind id")));
                }
                out.push((bind.clone(), strings(vals, f)?));
            }
            Ok(out)
        }
    }
}

fn parse_user(v: &Value, auth: &UmsAuth, cfg: &UmsConfig) -> Result<UmsUserChanges, Refusal> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid("each user must be an object"))?;
    let userid = obj
        .get("userid")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("userid can not be empty"))?;
    validate_userid(userid).map_err(|e| invalid(e.to_string()))?;
    let mut changes = Vec::new();
    for (name, verb) in [
        ("set", UmsVerb::Set),
        ("add", UmsVerb::Add),
        ("del", UmsVerb::Del),
    ] {
        let Some(ops) = obj.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let ops = ops
            .as_object()
            .ok_or_else(|| invalid(format!("{name} must be an object")))?;
        for (fname, fval) in ops {
            let field =
                UmsField::parse(fname).ok_or_else(|| invalid(format!("unknown field {fname}")))?;
            if verb == UmsVerb::Add && !field.multi() {
                return Err(invalid(format!("add does not support {fname}")));
            }
            for (bind_id, values) in entries(field, fval)? {
                check_bind(field, &bind_id, auth, cfg)?;
                for value in &values {
                    field.validate(value).map_err(|e| invalid(e.to_string()))?;
                }
                changes.push(UmsChange {
                    verb,
                    field,
                    bind_id,
                    values,
                });
            }
        }
    }
    Ok(UmsUserChanges {
        userid: userid.to_owned(),
        changes,
    })
}

fn userid_of(v: &Value) -> String {
    v.get("userid")
        .or(Some(v))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn users(body: Result<Option<Value>, EdgeRefusal>) -> Result<Vec<Value>, UmsError> {
    match body? {
        Some(Value::Array(a)) if a.is_empty() => {
            Err(UmsError::invalid("the request holds no users"))
        }
        Some(Value::Array(a)) if a.len() > USERS_PER_REQUEST => {
            Err(UmsError::invalid("at most 1000 users per request"))
        }
        Some(Value::Array(a)) => Ok(a),
        _ => Err(UmsError::invalid("the request body must be a JSON array")),
    }
}

fn reply(success: Vec<String>, fail: Vec<Value>) -> JsonReply<Value> {
    JsonReply(
        json!({ "code": 0, "data": { "success": success, "fail": fail }, "message": "success" }),
    )
}

fn fail_entry(userid: String, (code, msg): Refusal) -> Value {
    let mut m = Map::new();
    m.insert("userid".into(), userid.into());
    m.insert("errcode".into(), code.into());
    m.insert("errmsg".into(), msg.into());
    Value::Object(m)
}

/// Adds or updates users by userid. Each user is applied or refused on its own; the
/// users that pass are written in one transaction.
pub(crate) async fn opt(
    State(state): State<JiguangState>,
    auth: UmsAuth,
    Json(body): Json,
) -> Result<JsonReply<Value>, UmsError> {
    let list = users(body)?;
    let cfg = state.store.ums_config(&auth.app).await?;
    let (mut ok, mut success, mut fail) = (Vec::new(), Vec::new(), Vec::new());
    for v in &list {
        match parse_user(v, &auth, &cfg) {
            Ok(u) => {
                success.push(u.userid.clone());
                ok.push(u);
            }
            Err(r) => fail.push(fail_entry(userid_of(v), r)),
        }
    }
    if !ok.is_empty() {
        state
            .store
            .ums_apply(&auth.app, &ok, (state.clock)())
            .await?;
    }
    Ok(reply(success, fail))
}

/// Deletes users and everything bound to them; only the access key may.
pub(crate) async fn delete(
    State(state): State<JiguangState>,
    auth: UmsAuth,
    Json(body): Json,
) -> Result<JsonReply<Value>, UmsError> {
    if auth.channel.is_some() {
        return Err(UmsError {
            message: "only the access key may delete users".into(),
            ..UmsError::auth()
        });
    }
    let list = users(body)?;
    let (mut ids, mut fail) = (Vec::new(), Vec::new());
    for v in &list {
        match v.as_str() {
            Some(id) => match UserId::parse(id) {
                Ok(id) => ids.push(id),
                Err(_) => fail.push(fail_entry(id.to_owned(), invalid("userid is invalid"))),
            },
            None => {
                return Err(UmsError::invalid(
                    "the request body must be a JSON array of userids",
                ))
            }
        }
    }
    let found = state.store.ums_delete(&auth.app, &ids).await?;
    let mut success = Vec::new();
    for (id, existed) in ids.into_iter().map(String::from).zip(found) {
        if existed {
            success.push(id);
        } else {
            fail.push(fail_entry(id, invalid("user does not exist")));
        }
    }
    Ok(reply(success, fail))
}

pub(crate) async fn method_not_allowed() -> UmsError {
    EdgeRefusal::MethodNotAllowed.into()
}
