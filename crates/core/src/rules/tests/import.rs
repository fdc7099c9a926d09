//! Bulk import (`docs/import-export.md`): each line inserts, updates or leaves its
//! device on its own, with the tag and alias caps of the other writes; a second run of
//! the same lines emits nothing.

use super::*;
use crate::bulk::DeviceLine;
use crate::rules::{ImportDevices, Imported};

fn line(v: Value) -> DeviceLine {
    DeviceLine::parse(&v.to_string(), NOW).expect("a valid line")
}

fn import(lines: Vec<DeviceLine>) -> ImportDevices {
    ImportDevices { lines, now: NOW }
}

#[test]
fn lines_insert_update_or_stay_and_a_rerun_emits_nothing() {
    let mut b = Bench::new();
    let lines = vec![
        line(
            serde_json::json!({ "cid": "a", "phone_type": "android", "tags": ["x", "y", "x"],
            "alias": "al", "blacklisted": true, "badge": 2, "online": true,
            "login_days": ["2021-06-01", "2021-06-29"], "create_time": NOW - 40 * DAY }),
        ),
        line(serde_json::json!({ "cid": "b" })),
        line(serde_json::json!({ "cid": "c", "phone_type": "ios" })),
    ];
    let (out, ms) = b.run(&import(lines.clone())).expect("planned");
    assert_eq!(out[0], Ok(Imported::Inserted));
    assert_eq!(out[1], Err(Error::empty("phone_type")));
    assert_eq!(out[2], Ok(Imported::Inserted));
    assert_eq!(
        names(&ms),
        [
            "DeviceInserted",
            "LoginDayRecorded",
            "LoginDayRecorded",
            "DeviceInserted",
            "LoginDayRecorded"
        ]
    );
    let d = &b.mem.state(&b.app).expect("app").devices[&cid("a")];
    let d = &d.as_ref().expect("stored").device;
    assert_eq!(d.tags, tags(&["x", "y"]));
    assert_eq!((d.blacklisted, d.badge, d.online), (true, 2, true));
    let (out, ms) = b.run(&import(lines)).expect("planned");
    assert_eq!(out[0], Ok(Imported::Unchanged));
    assert!(ms.is_empty(), "{ms:?}");
    let (out, ms) = b
        .run(&import(vec![line(
            serde_json::json!({ "cid": "a", "alias": null, "tags": [], "brand": "hw" }),
        )]))
        .expect("planned");
    assert_eq!(out[0], Ok(Imported::Updated));
    assert_eq!(names(&ms), ["DeviceUpdated", "AliasUnbound", "TagsSet"]);
}

#[test]
fn the_caps_refuse_a_line_not_the_batch() {
    let mut b = Bench::new();
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let mut lines = vec![line(
        serde_json::json!({ "cid": "many", "phone_type": "android", "tags": many }),
    )];
    for i in 0..11 {
        lines.push(line(
            serde_json::json!({ "cid": format!("m{i}"), "phone_type": "ios", "alias": "team" }),
        ));
    }
    let (out, _) = b.run(&import(lines)).expect("planned");
    assert_eq!(out[0], Err(Error::over_limit("custom_tag")));
    assert!(out[1..11].iter().all(|r| *r == Ok(Imported::Inserted)));
    assert_eq!(out[11], Err(Error::over_limit("cid")));
    let devices = &b.mem.state(&b.app).expect("app").devices;
    let team = devices
        .values()
        .flatten()
        .filter(|d| d.device.alias == Some(alias("team")))
        .count();
    assert_eq!(team, 10);
}
