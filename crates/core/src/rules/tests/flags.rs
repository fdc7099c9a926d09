//! Blacklist and badge (Getui 【用户】添加/移除黑名单用户, 设置角标).

use super::*;
use crate::limits;
use crate::rules::{ApplyBadge, SetBlacklisted};
use crate::BadgeOp;

#[test]
fn blacklist_sets_and_clears_the_flag() {
    // Getui 添加/移除黑名单用户: "将单个或多个用户加入黑名单"; docs/getui.md: idempotent.
    let mut reg = Bench::new();
    reg.register(&["a", "b"]);
    let set = |cids: &[&str], on| SetBlacklisted {
        cids: cids.iter().map(|c| cid(c)).collect(),
        on,
    };
    assert_eq!(
        names(&reg.muts(&set(&["a", "b"], true))),
        ["BlacklistSet", "BlacklistSet"]
    );
    assert!(reg.device("a").blacklisted && reg.device("b").blacklisted);
    assert_eq!(reg.muts(&set(&["a", "b"], true)), []);
    let muts = reg.muts(&set(&["a"], false));
    assert_eq!(
        muts,
        [Mutation::BlacklistSet {
            cid: cid("a"),
            ordinal: 0,
            on: false,
        }]
    );
    assert!(!reg.device("a").blacklisted && reg.device("b").blacklisted);
    assert_eq!(reg.muts(&set(&["a"], false)), []);
}

#[test]
fn blacklist_with_an_unknown_cid_changes_nothing() {
    // docs/getui.md: "Blacklist add/remove: ≤ 200 cids, all or nothing".
    let mut reg = Bench::new();
    reg.register(&["a", "b"]);
    let err = reg.refused(&SetBlacklisted {
        cids: vec![cid("a"), cid("ghost"), cid("b")],
        on: true,
    });
    assert_eq!(err, Error::UnknownTarget);
    assert!(!reg.device("a").blacklisted);
}

#[test]
fn blacklist_of_the_same_cid_twice_sets_it_once() {
    let mut reg = Bench::new();
    reg.register(&["a"]);
    let muts = reg.muts(&SetBlacklisted {
        cids: vec![cid("a"), cid("a")],
        on: true,
    });
    assert_eq!(names(&muts), ["BlacklistSet"]);
}

fn badge(cids: &[&str], op: BadgeOp) -> ApplyBadge {
    ApplyBadge {
        cids: cids.iter().map(|c| cid(c)).collect(),
        op,
    }
}

#[test]
fn badge_sets_adds_and_subtracts_never_below_zero() {
    // Getui 设置角标: "+N: 在原有badge上+N; -N: 在原有badge上-N; N: 直接设置badge(数字,会覆盖
    // 原有的badge值)"; docs/getui.md: "The result is clamped to 0..=1,000,000".
    let mut reg = Bench::new();
    reg.register(&["a", "b"]);
    reg.ok(&badge(&["a", "b"], BadgeOp::Set(5)));
    assert_eq!((reg.device("a").badge, reg.device("b").badge), (5, 5));
    reg.ok(&badge(&["a"], BadgeOp::Add(3)));
    assert_eq!(reg.device("a").badge, 8);
    let muts = reg.muts(&badge(&["a", "b"], BadgeOp::Sub(6)));
    assert_eq!(
        muts,
        [
            Mutation::BadgeSet {
                cid: cid("a"),
                ordinal: 0,
                badge: 2,
            },
            Mutation::BadgeSet {
                cid: cid("b"),
                ordinal: 1,
                badge: 0,
            }
        ],
        "5 - 6 stops at 0"
    );
    assert_eq!(reg.muts(&badge(&["b"], BadgeOp::Sub(1))), [], "already 0");
    reg.ok(&badge(&["a"], BadgeOp::Set(0)));
    assert_eq!(reg.device("a").badge, 0);
}

#[test]
fn badge_is_capped_at_badge_max() {
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.ok(&badge(&["a"], BadgeOp::Set(5)));
    reg.ok(&badge(&["a"], BadgeOp::Add(limits::BADGE_MAX)));
    assert_eq!(reg.device("a").badge, limits::BADGE_MAX);
    assert_eq!(reg.muts(&badge(&["a"], BadgeOp::Add(1))), []);
    assert_eq!(reg.device("a").badge, limits::BADGE_MAX);
}

#[test]
fn badge_with_an_unknown_cid_changes_nothing() {
    // docs/getui.md: "Badge: ≤ 200 cids, all or nothing".
    let mut reg = Bench::new();
    reg.register(&["a"]);
    let err = reg.refused(&badge(&["a", "ghost"], BadgeOp::Set(3)));
    assert_eq!(err, Error::UnknownTarget);
    assert_eq!(reg.device("a").badge, 0);
}

#[test]
fn badge_of_the_same_cid_twice_applies_twice() {
    // The planner applies each entry in turn (the Getui edge refuses a repeated cid
    // before it gets here, docs/getui.md "a repeated cid is `contains duplicate cid`").
    let mut reg = Bench::new();
    reg.register(&["a"]);
    let muts = reg.muts(&badge(&["a", "a"], BadgeOp::Add(2)));
    assert_eq!(names(&muts), ["BadgeSet", "BadgeSet"]);
    assert_eq!(reg.device("a").badge, 4);
}
