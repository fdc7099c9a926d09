//! The profile request as the document defines it, read from the raw body.

use axum::body::Bytes;
use serde_json::{Map, Value};

use crate::error::EngagelabError;
use crate::render::Pick;

/// EUIDs per request.
const MAX_EUIDS: usize = 100;

/// A profile query: which users, and which keys of each group.
pub(crate) struct ProfileQuery {
    pub euids: Vec<i64>,
    pub pick: Pick,
}

/// A field selection: `None` means every key.
fn selection(body: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, EngagelabError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.is_empty() => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(EngagelabError::PAYLOAD))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(EngagelabError::PAYLOAD),
    }
}

impl ProfileQuery {
    /// Parses and checks a body: a JSON object with 1–100 integer `euid`s and optional
    /// lists of key names.
    pub(crate) fn parse(body: &Bytes) -> Result<Self, EngagelabError> {
        let body: Map<String, Value> =
            serde_json::from_slice(body).map_err(|_| EngagelabError::PAYLOAD)?;
        let euids: Vec<i64> = match body.get("euid") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_i64().ok_or(EngagelabError::PAYLOAD))
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(EngagelabError::PAYLOAD),
        };
        if euids.is_empty() || euids.len() > MAX_EUIDS {
            return Err(EngagelabError::COUNT);
        }
        Ok(ProfileQuery {
            euids,
            pick: Pick {
                identities: selection(&body, "user_identities")?,
                properties: selection(&body, "user_properties")?,
                devices: selection(&body, "device_properties")?,
                contacts: selection(&body, "contacts")?,
            },
        })
    }
}
