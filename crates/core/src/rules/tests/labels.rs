//! Aliases and custom tags (Getui 【别名】 and 【标签】).

use super::*;
use crate::limits;
use crate::rules::reads::{AliasOf, CidsOfAlias, TagsOf};
use crate::rules::{AddTag, BindAliases, RemoveTag, ReplaceTags, UnbindAlias, UnbindAliases};

fn pairs(ps: &[(&str, &str)]) -> Vec<(Cid, Alias)> {
    ps.iter().map(|(c, a)| (cid(c), alias(a))).collect()
}

fn bind(ps: &[(&str, &str)]) -> BindAliases {
    BindAliases { pairs: pairs(ps) }
}

fn unbind(ps: &[(&str, &str)]) -> UnbindAliases {
    UnbindAliases { pairs: pairs(ps) }
}

fn alias_of(reg: &mut Bench, c: &str) -> Option<Alias> {
    reg.read(&AliasOf { cid: cid(c) })
}

/// The cids of an alias, sorted (Getui: "cid顺序和绑定顺序无关", the order is not the
/// binding order).
fn members(reg: &mut Bench, a: &str) -> Vec<Cid> {
    let mut cids = reg.read(&CidsOfAlias { alias: alias(a) });
    cids.sort();
    cids
}

fn cids(cs: &[&str]) -> Vec<Cid> {
    cs.iter().map(|c| cid(c)).collect()
}

/// `c0`, `c1`, … `c{n-1}`.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

fn register_numbered(reg: &mut Bench, n: usize) -> Vec<String> {
    let all = numbered(n);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    reg.register(&refs);
    all
}

// ---- aliases ----------------------------------------------------------------------------

#[test]
fn bind_alias_and_query_it_both_ways() {
    // Getui 绑定别名, 根据cid查询别名, 根据别名查询cid.
    let mut reg = Bench::new();
    reg.register(&["a", "b", "c"]);
    let muts = reg.muts(&bind(&[("a", "zhang_三"), ("b", "zhang_三")]));
    assert_eq!(
        muts[0],
        Mutation::AliasBound {
            cid: cid("a"),
            ordinal: 0,
            alias: alias("zhang_三"),
            previous: None,
        }
    );
    assert_eq!(names(&muts), ["AliasBound", "AliasBound"]);
    assert_eq!(alias_of(&mut reg, "a"), Some(alias("zhang_三")));
    assert_eq!(alias_of(&mut reg, "c"), None);
    assert_eq!(members(&mut reg, "zhang_三"), cids(&["a", "b"]));
    assert_eq!(members(&mut reg, "nobody"), []);
    assert!(reg.device("b").alias == Some(alias("zhang_三")));
}

#[test]
fn alias_of_an_unknown_cid_is_unknown_target() {
    let mut reg = Bench::new();
    assert_eq!(
        reg.run(&AliasOf { cid: cid("ghost") }).map(|r| r.0),
        Err(Error::UnknownTarget)
    );
}

#[test]
fn binding_a_new_alias_moves_the_cid() {
    // Getui 绑定别名: "一个cid只能绑定一个别名,若已绑定过别名的cid再次绑定新别名,则前一个别名会
    // 自动解绑,并绑定新别名。"
    let mut reg = Bench::new();
    reg.register(&["a", "b"]);
    reg.ok(&bind(&[("a", "old"), ("b", "old")]));
    let muts = reg.muts(&bind(&[("a", "new")]));
    assert_eq!(
        muts,
        [Mutation::AliasBound {
            cid: cid("a"),
            ordinal: 0,
            alias: alias("new"),
            previous: Some(alias("old")),
        }]
    );
    assert_eq!(alias_of(&mut reg, "a"), Some(alias("new")));
    assert_eq!(members(&mut reg, "old"), cids(&["b"]));
    assert_eq!(members(&mut reg, "new"), cids(&["a"]));
}

#[test]
fn an_eleventh_cid_is_refused_and_the_batch_changes_nothing() {
    // Getui 绑定别名: "一个别名最多允许绑定10个cid。"; docs/getui.md: "if any alias would end
    // with more than 10 cids, the batch is `cid size over limit` and nothing changes".
    let mut reg = Bench::new();
    let all = register_numbered(&mut reg, 12);
    let first_ten: Vec<(&str, &str)> = all[..10].iter().map(|c| (c.as_str(), "full")).collect();
    reg.ok(&bind(&first_ten));
    assert_eq!(members(&mut reg, "full").len(), limits::CIDS_PER_ALIAS);
    // The eleventh, after an entry that would have applied on its own.
    let err = reg.refused(&bind(&[("c11", "other"), ("c10", "full")]));
    assert_eq!(err, Error::over_limit("cid"));
    assert_eq!(alias_of(&mut reg, "c11"), None);
    assert_eq!(alias_of(&mut reg, "c10"), None);
    // Eleven at once on an empty alias.
    let eleven: Vec<(&str, &str)> = all[..11].iter().map(|c| (c.as_str(), "fresh")).collect();
    assert_eq!(reg.refused(&bind(&eleven)), Error::over_limit("cid"));
    assert_eq!(members(&mut reg, "fresh"), []);
}

#[test]
fn moving_a_cid_out_of_a_full_alias_frees_its_slot() {
    // docs/getui.md: "Rebinding a cid moves it, which frees its place in the old alias."
    let mut reg = Bench::new();
    let all = register_numbered(&mut reg, 11);
    let first_ten: Vec<(&str, &str)> = all[..10].iter().map(|c| (c.as_str(), "full")).collect();
    reg.ok(&bind(&first_ten));
    // The newcomer comes first in the batch: only the end state counts.
    reg.ok(&bind(&[("c10", "full"), ("c0", "elsewhere")]));
    assert_eq!(members(&mut reg, "full").len(), 10);
    assert!(members(&mut reg, "full").contains(&cid("c10")));
    assert_eq!(alias_of(&mut reg, "c0"), Some(alias("elsewhere")));
    // Across batches too.
    reg.ok(&unbind(&[("c1", "full")]));
    reg.ok(&bind(&[("c0", "full")]));
    assert_eq!(members(&mut reg, "full").len(), 10);
}

#[test]
fn an_unknown_cid_refuses_the_bind_batch() {
    // DESIGN §2 / docs/getui.md: "A bind batch is all or nothing: an unknown cid (or a
    // cid of another app) is `target user is invalid`".
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.foreign_device("app2", "theirs");
    for stranger in ["ghost", "theirs"] {
        let err = reg.refused(&bind(&[("a", "al"), (stranger, "al")]));
        assert_eq!(err, Error::UnknownTarget);
    }
    assert_eq!(alias_of(&mut reg, "a"), None);
}

#[test]
fn the_same_cid_twice_in_a_bind_batch_ends_on_the_last_alias() {
    // The edge refuses it (docs/getui.md: "contains duplicate cid"); the planner applies
    // entries in order.
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.ok(&bind(&[("a", "x"), ("a", "y")]));
    assert_eq!(alias_of(&mut reg, "a"), Some(alias("y")));
    assert_eq!(members(&mut reg, "x"), []);
}

#[test]
fn batch_unbind_removes_bound_pairs_and_ignores_the_others() {
    // Getui 批量解绑别名: "批量解除别名与cid的关系"; docs/getui.md: "a pair that is not bound (the
    // cid has another alias or none) is ignored".
    let mut reg = Bench::new();
    reg.register(&["a", "b", "c"]);
    reg.ok(&bind(&[("a", "al"), ("b", "al")]));
    let muts = reg.muts(&unbind(&[("a", "al"), ("b", "other"), ("c", "al")]));
    assert_eq!(
        muts,
        [Mutation::AliasUnbound {
            cid: cid("a"),
            ordinal: 0,
            alias: alias("al"),
        }]
    );
    assert_eq!(alias_of(&mut reg, "a"), None);
    assert_eq!(members(&mut reg, "al"), cids(&["b"]));
}

#[test]
fn batch_unbind_with_an_unknown_cid_changes_nothing() {
    // docs/getui.md: "Batch unbind is all or nothing over unknown cids".
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.ok(&bind(&[("a", "al")]));
    let err = reg.refused(&unbind(&[("a", "al"), ("ghost", "al")]));
    assert_eq!(err, Error::UnknownTarget);
    assert_eq!(alias_of(&mut reg, "a"), Some(alias("al")));
}

#[test]
fn unbind_alias_unbinds_every_cid_and_counts_them() {
    // Getui 解绑所有别名: "解绑所有与该别名绑定的cid"; docs/getui.md: "Unbinding all cids of an
    // alias that has none succeeds".
    let mut reg = Bench::new();
    reg.register(&["a", "b", "c", "d"]);
    reg.ok(&bind(&[
        ("a", "al"),
        ("b", "al"),
        ("c", "al"),
        ("d", "keep"),
    ]));
    let (n, muts) = reg.ok(&UnbindAlias { alias: alias("al") });
    assert_eq!(n, 3);
    assert_eq!(names(&muts), ["AliasUnbound"; 3]);
    for c in ["a", "b", "c"] {
        assert_eq!(alias_of(&mut reg, c), None);
    }
    assert_eq!(alias_of(&mut reg, "d"), Some(alias("keep")));
    assert_eq!(members(&mut reg, "al"), []);
    let (n, muts) = reg.ok(&UnbindAlias { alias: alias("al") });
    assert_eq!((n, muts), (0, vec![]));
}

// ---- tags -------------------------------------------------------------------------------

fn replace(c: &str, ts: &[&str]) -> ReplaceTags {
    ReplaceTags {
        cid: cid(c),
        tags: tags(ts),
    }
}

fn tags_of(reg: &mut Bench, c: &str) -> Vec<TagName> {
    reg.read(&TagsOf { cid: cid(c) })
}

/// `t000` … : `n` distinct tags.
fn many_tags(prefix: &str, n: usize) -> Vec<TagName> {
    (0..n).map(|i| tag(&format!("{prefix}{i:03}"))).collect()
}

#[test]
fn replacing_tags_overwrites_the_old_ones() {
    // Getui 一个用户绑定一批标签: "此操作为覆盖操作,会删除历史绑定的标签".
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.ok(&replace("a", &["喜爱足球", "x"]));
    let muts = reg.muts(&replace("a", &["z", "y", "z"]));
    assert_eq!(
        muts,
        [Mutation::TagsSet {
            cid: cid("a"),
            ordinal: 0,
            tags: tags(&["y", "z"]),
            previous: tags(&["x", "喜爱足球"]),
        }],
        "duplicates collapse, tags are sorted"
    );
    assert_eq!(tags_of(&mut reg, "a"), tags(&["y", "z"]));
    // An empty list clears (docs/getui.md: "`[]` clears the cid's tags").
    reg.ok(&replace("a", &[]));
    assert_eq!(tags_of(&mut reg, "a"), []);
}

#[test]
fn replacing_with_more_than_100_tags_is_refused() {
    // Getui 一个用户绑定一批标签: "最多设置100个标签"; 简述: "每个用户 … 可以打上100个标签".
    let mut reg = Bench::new();
    reg.register(&["a"]);
    reg.ok(&replace("a", &["old"]));
    let hundred = many_tags("t", limits::TAGS_PER_CID);
    reg.ok(&ReplaceTags {
        cid: cid("a"),
        tags: hundred.clone(),
    });
    assert_eq!(tags_of(&mut reg, "a"), hundred);
    let err = reg.refused(&ReplaceTags {
        cid: cid("a"),
        tags: many_tags("u", limits::TAGS_PER_CID + 1),
    });
    assert_eq!(err, Error::over_limit("custom_tag"));
    // 101 entries that are 100 distinct tags are 100 tags.
    let mut with_repeat = many_tags("v", limits::TAGS_PER_CID);
    with_repeat.push(tag("v000"));
    reg.ok(&ReplaceTags {
        cid: cid("a"),
        tags: with_repeat,
    });
    assert_eq!(tags_of(&mut reg, "a").len(), limits::TAGS_PER_CID);
}

#[test]
fn replacing_tags_of_an_unknown_cid_is_unknown_target() {
    let mut reg = Bench::new();
    assert_eq!(reg.refused(&replace("ghost", &["x"])), Error::UnknownTarget);
}

#[test]
fn adding_a_tag_to_a_batch_answers_per_cid() {
    // Getui 一批用户绑定一个标签: "此接口为增量"; data "$cid": "true表示成功,否则失败";
    // docs/getui.md: "false" means "an unknown cid … or (bind) a cid already at 100 tags".
    let mut reg = Bench::new();
    reg.register(&["plain", "has", "full"]);
    reg.ok(&replace("plain", &["keep"]));
    reg.ok(&replace("has", &["vip"]));
    let hundred = many_tags("t", limits::TAGS_PER_CID);
    reg.ok(&ReplaceTags {
        cid: cid("full"),
        tags: hundred.clone(),
    });
    let (answers, muts) = reg.ok(&AddTag {
        tag: tag("vip"),
        cids: cids(&["plain", "has", "ghost", "full"]),
    });
    assert_eq!(answers, [true, true, false, false]);
    assert_eq!(
        muts,
        [Mutation::TagAdded {
            cid: cid("plain"),
            ordinal: 0,
            tag: tag("vip"),
        }]
    );
    assert_eq!(tags_of(&mut reg, "plain"), tags(&["keep", "vip"]));
    assert_eq!(
        tags_of(&mut reg, "full"),
        hundred,
        "a cid at 100 is unchanged"
    );
    // A cid at 100 that already has the tag has it.
    let (answers, muts) = reg.ok(&AddTag {
        tag: tag("t007"),
        cids: cids(&["full"]),
    });
    assert_eq!((answers, muts), (vec![true], vec![]));
}

#[test]
fn adding_a_tag_to_the_same_cid_twice_adds_it_once() {
    let mut reg = Bench::new();
    reg.register(&["a"]);
    let (answers, muts) = reg.ok(&AddTag {
        tag: tag("x"),
        cids: cids(&["a", "a"]),
    });
    assert_eq!(answers, [true, true]);
    assert_eq!(names(&muts), ["TagAdded"]);
}

#[test]
fn removing_a_tag_from_a_batch_leaves_the_other_tags() {
    // Getui 一批用户解绑一个标签: "解绑用户的某个标签属性,不影响其它标签"; per cid "true" means the
    // cid now lacks the tag, "false" an unknown cid.
    let mut reg = Bench::new();
    reg.register(&["a", "b"]);
    reg.ok(&replace("a", &["x", "y"]));
    reg.ok(&replace("b", &["y"]));
    let (answers, muts) = reg.ok(&RemoveTag {
        tag: tag("x"),
        cids: cids(&["a", "b", "ghost"]),
    });
    assert_eq!(answers, [true, true, false]);
    assert_eq!(
        muts,
        [Mutation::TagRemoved {
            cid: cid("a"),
            ordinal: 0,
            tag: tag("x"),
        }]
    );
    assert_eq!(tags_of(&mut reg, "a"), tags(&["y"]));
    assert_eq!(tags_of(&mut reg, "b"), tags(&["y"]));
}

#[test]
fn tags_of_a_cid_are_sorted() {
    // Getui 查询用户标签; docs/getui.md: "`{"$cid": ["t1 t2"]}` with tags sorted"; an unknown
    // cid is `target user is invalid`.
    let mut reg = Bench::new();
    reg.register(&["a"]);
    for t in ["m", "b", "z", "a"] {
        reg.ok(&AddTag {
            tag: tag(t),
            cids: cids(&["a"]),
        });
    }
    assert_eq!(tags_of(&mut reg, "a"), tags(&["a", "b", "m", "z"]));
    assert_eq!(reg.device("a").tags, tags(&["a", "b", "m", "z"]));
    assert_eq!(
        reg.run(&TagsOf { cid: cid("ghost") }).map(|r| r.0),
        Err(Error::UnknownTarget)
    );
}
