//! Judging a reply: status, body and envelope, and whether the request was refused.

use std::collections::BTreeSet;

use roster_edge::Dialect;
use serde_json::Value;

use super::base::Tracked;
use super::case::{preview, Case, Expect};
use super::routes::R;
use crate::edge::{envelope_matches, envelope_of, Envelope, RawReply};

pub(super) struct Verdict {
    pub(super) refused: bool,
    /// Identifiers that must not exist after the run.
    pub(super) absent: Vec<Tracked>,
}

pub(super) fn judge(case: &Case, resp: &RawReply) -> Result<Verdict, String> {
    let status = resp.status;
    if status >= 500 {
        return Err(format!("{status} reply"));
    }
    if case.head() {
        return Ok(Verdict {
            refused: status >= 400,
            absent: Vec::new(),
        });
    }
    if status == 204 || status == 304 {
        if !resp.body.is_empty() {
            return Err(format!("{status} with a body"));
        }
        return Ok(Verdict {
            refused: false,
            absent: Vec::new(),
        });
    }
    let ct = resp.header("content-type").unwrap_or("");
    if status == 200 && case.route == R::NCids && ct.starts_with("application/x-ndjson") {
        let text = std::str::from_utf8(&resp.body).map_err(|_| "NDJSON is not UTF-8".to_owned())?;
        for line in text.lines().filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| format!("NDJSON line is not JSON ({e}): {line}"))?;
            if !v["cid"].is_string() {
                return Err(format!("NDJSON line without a cid: {line}"));
            }
        }
        return Ok(Verdict {
            refused: false,
            absent: Vec::new(),
        });
    }
    if !ct.starts_with("application/json") {
        return Err(format!("{status} content-type {ct:?}"));
    }
    let body: Value = serde_json::from_slice(&resp.body).map_err(|e| {
        format!(
            "{status} body is not JSON ({e}): {}",
            preview(&resp.body, 300)
        )
    })?;
    let dialect = Dialect::of_path(&case.path);
    if status >= 400 {
        let own = envelope_of(&case.path);
        let ok = match case.expect {
            Expect::Dialect => envelope_matches(own, &body),
            Expect::Either => {
                let parser = matches!(status, 400 | 414 | 431)
                    && resp.header("connection") == Some("close")
                    && envelope_matches(Envelope::Native, &body);
                envelope_matches(own, &body) || parser
            }
        };
        if !ok {
            return Err(format!(
                "{status} not in the {:?} envelope (expect {:?}): {body}",
                own, case.expect
            ));
        }
        return Ok(Verdict {
            refused: true,
            absent: case.track.clone(),
        });
    }
    // 2xx (and 3xx, which roster never sends).
    if !(200..300).contains(&status) {
        return Err(format!("unexpected status {status}: {body}"));
    }
    let code = &body["code"];
    let refused = match dialect {
        Dialect::Getui => {
            if !code.is_i64() || !body["msg"].is_string() {
                return Err(format!("Getui {status} without code and msg: {body}"));
            }
            if code != 0 && !envelope_matches(Envelope::CodeMsg, &body) {
                return Err(format!("Getui error not in its envelope: {body}"));
            }
            let data = &body["data"];
            code != 0
                || (case.route == R::GTagBatch
                    && data
                        .as_object()
                        .is_some_and(|m| !m.is_empty() && m.values().all(|v| v == "false")))
                || data["errorList"].as_array().is_some_and(|l| !l.is_empty())
        }
        Dialect::Growth => {
            if !code.is_i64() || !body["msg"].is_string() {
                return Err(format!("Growth {status} without code and msg: {body}"));
            }
            code != 0
                || body["data"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["errorCode"] != 0))
        }
        Dialect::Ums => {
            if !code.is_i64() || !body["message"].is_string() {
                return Err(format!("UMS {status} without code and message: {body}"));
            }
            let data = &body["data"];
            let lists = data["success"].is_array() && data["fail"].is_array();
            if !(data.is_string() || lists) {
                return Err(format!(
                    "UMS {status} data is neither a string nor success/fail: {body}"
                ));
            }
            code != 0 || data["success"].as_array().is_none_or(Vec::is_empty)
        }
        Dialect::Engagelab => {
            if !code.is_i64() || !body["message"].is_string() {
                return Err(format!(
                    "EngageLab {status} without code and message: {body}"
                ));
            }
            code != 0
                || body["data"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["error_code"] != 0))
        }
        Dialect::Native => {
            if !body.is_object() {
                return Err(format!("native {status} body is not an object: {body}"));
            }
            false
        }
    };
    let absent = if refused {
        case.track.clone()
    } else {
        // Partial success: what was not reported a success must not exist.
        let ok: Option<BTreeSet<&str>> = match case.route {
            R::UmsOpt => Some(
                body["data"]["success"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default(),
            ),
            R::GrowthB => Some(
                body["data"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|x| x["errorCode"] == 0)
                            .filter_map(|x| x["identityValue"].as_str())
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        ok.map_or_else(Vec::new, |ok| {
            case.track
                .iter()
                .filter(|t| !ok.contains(t.id.as_str()))
                .cloned()
                .collect()
        })
    };
    Ok(Verdict { refused, absent })
}
