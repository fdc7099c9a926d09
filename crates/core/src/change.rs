//! The change log's lines: how a committed [`Mutation`] is written down, read back and
//! shown to a feed reader. One write (one request) commits under one `seq`; each of its
//! mutations is one line. A stored line is the mutation's JSON, `kind` first, then its
//! subject (`cid` or `uid`), then the changed fields; the feed puts `seq` and `at` in
//! front. Credentials are never mutations, so no line can carry one.

use serde_json::{Map, Value};

use crate::rules::Mutation;

/// The stored line of one mutation: `{"kind":…,"cid"|"uid":…,…}` on one line.
pub fn line(m: &Mutation) -> Result<String, serde_json::Error> {
    let Value::Object(mut fields) = serde_json::to_value(m)? else {
        return Err(serde::ser::Error::custom("a mutation is a JSON object"));
    };
    let mut out = Map::new();
    if let Some(kind) = fields.remove("kind") {
        out.insert("kind".into(), kind);
    }
    // A device inserted or updated names its cid inside the device; the feed names
    // every device change's subject at the top.
    let subject = match m.device() {
        Some((cid, _)) => fields
            .remove("cid")
            .or_else(|| Some(Value::from(cid.as_str())))
            .map(|v| ("cid", v)),
        None => fields.remove("uid").map(|v| ("uid", v)),
    };
    if let Some((k, v)) = subject {
        out.insert(k.into(), v);
    }
    let mut s = String::from("{");
    let mut first = true;
    for (k, v) in out.iter().chain(fields.iter()) {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(&serde_json::to_string(k)?);
        s.push(':');
        s.push_str(&serde_json::to_string(v)?);
    }
    s.push('}');
    Ok(s)
}

/// The stored body of one write: its lines, one per mutation, joined by `\n`.
pub fn body(mutations: &[Mutation]) -> Result<String, serde_json::Error> {
    let lines = mutations.iter().map(line).collect::<Result<Vec<_>, _>>()?;
    Ok(lines.join("\n"))
}

/// The mutations of a stored body, in order.
pub fn parse_body(body: &str) -> Result<Vec<Mutation>, serde_json::Error> {
    body.lines()
        .filter(|l| !l.is_empty())
        .map(serde_json::from_str)
        .collect()
}

/// Appends the feed lines of one stored body (`seq` and `at` first), each ending in
/// `\n`; returns how many.
pub fn render(out: &mut String, seq: u64, at: i64, body: &str) -> usize {
    let mut n = 0;
    for l in body.lines().filter(|l| l.len() > 1) {
        out.push_str("{\"seq\":");
        out.push_str(&seq.to_string());
        out.push_str(",\"at\":");
        out.push_str(&at.to_string());
        out.push(',');
        out.push_str(&l[1..]);
        out.push('\n');
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Binding;
    use crate::ums::UmsField;
    use crate::user::Uid;
    use crate::{Cid, Device, DeviceKind, PhoneType, TagName};

    fn device() -> Device {
        Device {
            cid: Cid::parse("c1").expect("cid"),
            kind: DeviceKind::App,
            phone_type: PhoneType::Android,
            brand: Some("hw".into()),
            phone_model: None,
            package_name: None,
            client_app_id: None,
            device_token: None,
            device_token_type: None,
            notification_switch: true,
            region: Some("11000000".into()),
            app_version: None,
            os: None,
            properties: Map::new(),
            online: false,
            create_time: 5,
            last_login_time: 5,
            login_freq: 0,
            badge: 0,
            blacklisted: false,
            alias: None,
            tags: vec![TagName::parse("t").expect("tag")],
        }
    }

    #[test]
    fn lines_round_trip_and_name_their_subject_first() {
        let ms = vec![
            Mutation::DeviceInserted {
                ordinal: 3,
                device: Box::new(device()),
            },
            Mutation::TagAdded {
                cid: Cid::parse("c1").expect("cid"),
                ordinal: 3,
                tag: TagName::parse("x").expect("tag"),
            },
            Mutation::BindingSet(Binding {
                uid: Uid::new(7),
                field: UmsField::WechatwkLinkedcorp,
                bind_id: "all".into(),
                value: "v".into(),
            }),
            Mutation::UserDeleted { uid: Uid::new(7) },
            Mutation::DeviceDeleted {
                ordinal: 3,
                device: Box::new(device()),
            },
        ];
        let b = body(&ms).expect("body");
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(
            lines[4].starts_with(r#"{"kind":"device_deleted","cid":"c1","device":{"#)
                && lines[4].ends_with(r#""ordinal":3}"#),
            "{}",
            lines[4]
        );
        assert!(
            lines[0].starts_with(r#"{"kind":"device_inserted","cid":"c1","#),
            "{}",
            lines[0]
        );
        assert!(lines[2].starts_with(r#"{"kind":"binding_set","uid":7,"#));
        assert!(lines[2].contains(r#""field":"wechatwk_linkedcorp""#));
        assert_eq!(lines[3], r#"{"kind":"user_deleted","uid":7}"#);
        assert_eq!(parse_body(&b).expect("parse"), ms);

        let mut feed = String::new();
        assert_eq!(render(&mut feed, 12, 99, &b), 5);
        let first: Value = serde_json::from_str(feed.lines().next().expect("line")).expect("json");
        assert_eq!(first["seq"], 12);
        assert_eq!(first["at"], 99);
        assert_eq!(first["kind"], "device_inserted");
        assert!(feed.starts_with(r#"{"seq":12,"at":99,"kind":"device_inserted""#));
        // a feed line reads back as its mutation too
        let back: Mutation =
            serde_json::from_str(feed.lines().nth(1).expect("line")).expect("mutation");
        assert_eq!(back, ms[1]);
    }
}
