//! Native deletes and the tag edit (issue 15): a deleted device leaves its alias, tags
//! and user; its ordinal is not given again; a tag edit is decided as an overwrite.

use super::*;
use crate::limits;
use crate::rules::reads::{CidsOfAlias, TagsOf};
use crate::rules::{BindAliases, DeleteDevice, DeleteUser, EditTags, IdentifyUser, ReplaceTags};
use crate::user::Identify;

fn identify(values: &[&str]) -> IdentifyUser {
    let mut identify = Identify::default();
    for v in values {
        identify
            .identities
            .push(("registration_id".into(), (*v).into()));
    }
    IdentifyUser { identify, now: NOW }
}

#[test]
fn a_deleted_device_leaves_its_alias_tags_and_user() {
    let mut reg = Bench::new();
    reg.register(&["a", "b"]);
    reg.ok(&ReplaceTags {
        cid: cid("a"),
        tags: tags(&["x"]),
    });
    reg.ok(&BindAliases {
        pairs: vec![(cid("a"), alias("al")), (cid("b"), alias("al"))],
    });
    let ((uid, _), _) = reg.ok(&identify(&["a", "b"]));
    let ordinal = reg.stored("a").ordinal;
    let muts = reg.muts(&DeleteDevice { cid: cid("a") });
    assert_eq!(names(&muts), ["IdentityRemoved", "DeviceDeleted"]);
    match &muts[1] {
        Mutation::DeviceDeleted { ordinal: o, device } => {
            assert_eq!((*o, device.tags.clone()), (ordinal, tags(&["x"])));
            assert_eq!(device.alias, Some(alias("al")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reg.read(&CidsOfAlias { alias: alias("al") }),
        vec![cid("b")]
    );
    assert_eq!(reg.holder("registration_id", "a"), None);
    assert_eq!(reg.user(uid).registration_ids(), vec!["b"]);
    assert_eq!(reg.refused(&TagsOf { cid: cid("a") }), Error::UnknownTarget);
    assert_eq!(
        reg.refused(&DeleteDevice { cid: cid("a") }),
        Error::UnknownTarget
    );
    // registered again: a new ordinal, nothing of the old device
    reg.register(&["a"]);
    assert!(reg.stored("a").ordinal > reg.stored("b").ordinal);
    assert!(reg.device("a").tags.is_empty() && reg.device("a").alias.is_none());
}

#[test]
fn deleting_a_user_by_uid_is_ums_delete() {
    let mut reg = Bench::new();
    reg.register(&["a"]);
    let ((uid, _), _) = reg.ok(&identify(&["a"]));
    let (existed, muts) = reg.ok(&DeleteUser { uid });
    assert!(existed);
    assert_eq!(names(&muts), ["UserDeleted"]);
    assert!(!reg.user_exists(uid));
    assert_eq!(reg.holder("registration_id", "a"), None);
    let (existed, muts) = reg.ok(&DeleteUser { uid });
    assert!(!existed && muts.is_empty());
    // the device stays
    assert_eq!(reg.device("a").cid, cid("a"));
}

#[test]
fn a_tag_edit_is_decided_as_the_overwrite_of_its_result() {
    let mut reg = Bench::new();
    reg.register(&["a"]);
    let edit = |add: &[&str], remove: &[&str]| EditTags {
        cid: cid("a"),
        add: tags(add),
        remove: tags(remove),
    };
    let muts = reg.muts(&edit(&["y", "x", "x"], &["z"]));
    assert_eq!(names(&muts), ["TagsSet"]);
    assert_eq!(reg.device("a").tags, tags(&["x", "y"]));
    assert!(
        reg.muts(&edit(&["x"], &["z"])).is_empty(),
        "no change, no mutation"
    );
    let hundred: Vec<String> = (0..99).map(|i| format!("t{i}")).collect();
    let hundred: Vec<&str> = hundred.iter().map(String::as_str).collect();
    assert_eq!(
        reg.refused(&edit(&hundred, &[])),
        Error::over_limit("custom_tag")
    );
    reg.ok(&edit(&hundred, &["y"]));
    assert_eq!(reg.device("a").tags.len(), limits::TAGS_PER_CID);
    // a tag in both lists is removed
    reg.ok(&edit(&["x"], &["x"]));
    assert!(!reg.device("a").tags.contains(&tag("x")));
    assert_eq!(
        reg.refused(&EditTags {
            cid: cid("nope"),
            add: tags(&["x"]),
            remove: Vec::new(),
        }),
        Error::UnknownTarget
    );
}
