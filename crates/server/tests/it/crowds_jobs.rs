//! Smart-crowd jobs at work: who ends up in a crowd (interest from tags and opened copy,
//! the brand, activity and blacklist filters, the per-crowd cap, overlap), and how jobs
//! end (stop, timeout) and survive restarts, SIGKILL and a second node on one database.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use roster_core::time::now_ms;
use roster_testkit::{Launch, RosterProcess, TestServer};
use serde_json::{json, Value};

use crate::crowds::{
    basketball, blacklist, create, devices, food, models, plan, plan_with, tag, task, task_list,
    unmatched, wait_ended, wait_succeeded, Api, BASKETBALL_OPENED, DAY_MS,
};
use crate::support::database;

/// Brands the planted population cycles through (`None`: no brand).
const BRANDS: [Option<&str>; 8] = [
    Some("hw"),
    Some("xm"),
    Some("op"),
    Some("vv"),
    Some("mz"),
    Some("iphone"),
    Some("samsung"),
    None,
];

/// A population of 3,000 devices of mixed brands, all recently active, with planted
/// interests: 400 tagged `篮球` (the last 50 of them also `美食`), 400 tagged `美食`,
/// 100 more that opened basketball copy, and 2,150 with no interest.
struct Planted {
    all: Vec<String>,
    /// Tagged `篮球` or opened basketball copy.
    basketball: HashSet<String>,
    /// Tagged `美食`.
    food: HashSet<String>,
    /// Basketball interest only.
    basketball_only: HashSet<String>,
    /// Food interest only.
    food_only: HashSet<String>,
    /// Tagged both.
    both: HashSet<String>,
}

async fn plant(api: &Api) -> Planted {
    let all = api
        .register(
            (0..3000)
                .map(|i| match BRANDS[i % BRANDS.len()] {
                    Some(b) => json!({ "phone_type": "android", "brand": b }),
                    None => json!({ "phone_type": "ios" }),
                })
                .collect(),
        )
        .await;
    let g = api.getui().await;
    let range = |r: std::ops::Range<usize>| all[r].to_vec();
    tag(&g, "篮球", &range(0..400)).await;
    tag(&g, "美食", &range(350..750)).await;
    for cid in &all[750..850] {
        let (st, body) = api
            .event(cid, json!({ "type": "open", "text": BASKETBALL_OPENED }))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT, "open event: {body}");
    }
    let set = |r: std::ops::Range<usize>| -> HashSet<String> { all[r].iter().cloned().collect() };
    let basketball: HashSet<String> = set(0..400).union(&set(750..850)).cloned().collect();
    let food = set(350..750);
    Planted {
        basketball_only: basketball.difference(&food).cloned().collect(),
        food_only: food.difference(&basketball).cloned().collect(),
        both: set(350..400),
        basketball,
        food,
        all,
    }
}

fn share(part: &HashSet<String>, of: &HashSet<String>) -> f64 {
    if of.is_empty() {
        return 0.0;
    }
    part.intersection(of).count() as f64 / of.len() as f64
}

/// Crowds of a plan with the basketball and the food copy, computed on [`plant`]ed data:
/// each mostly people with that interest, each holding most of those with that interest
/// only.
fn assert_relevant(p: &Planted, basketball_crowd: &HashSet<String>, food_crowd: &HashSet<String>) {
    let precision = share(&p.basketball, basketball_crowd);
    assert!(
        precision >= 0.9,
        "only {precision:.2} of the basketball crowd ({}) has a basketball interest",
        basketball_crowd.len()
    );
    let precision = share(&p.food, food_crowd);
    assert!(
        precision >= 0.9,
        "only {precision:.2} of the food crowd ({}) has a food interest",
        food_crowd.len()
    );
    // nobody competes for these devices and 1,000 places are free: all belong in
    let recall = share(basketball_crowd, &p.basketball_only);
    assert!(
        recall >= 0.9,
        "the basketball crowd holds only {recall:.2} of the basketball-only devices"
    );
    let recall = share(food_crowd, &p.food_only);
    assert!(
        recall >= 0.9,
        "the food crowd holds only {recall:.2} of the food-only devices"
    );
}

/// The members of every crowd, in the order of `ids`.
async fn crowds_of(api: &Api, ids: &[String]) -> Vec<HashSet<String>> {
    let mut out = Vec::new();
    for id in ids {
        out.push(api.crowd_members(id).await);
    }
    out
}

#[tokio::test]
async fn crowds_relevance_end_to_end() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let p = plant(&api).await;
    let g = api.getui().await;

    let apart = create(&g, plan("球与美食", vec![basketball(), food()])).await;
    let together = create(
        &g,
        plan_with(
            "可重叠",
            vec![basketball(), food()],
            json!({ "is_overlap": true }),
        ),
    )
    .await;
    for e in wait_succeeded(&g, &[apart.clone(), together.clone()].concat()).await {
        assert_eq!(e["can_push"], true, "{e}");
    }
    for m in models(&g, json!({})).await {
        assert_eq!(m["status"], 4, "{m}");
    }

    let sets = crowds_of(&api, &apart).await;
    let (b, f) = (&sets[0], &sets[1]);
    assert_relevant(&p, b, f);
    assert!(
        b.is_disjoint(f),
        "is_overlap false, yet {} devices are in both crowds",
        b.intersection(f).count()
    );
    assert_eq!(
        api.count(json!({ "and": [{ "crowd": apart[0] }, { "crowd": apart[1] }] }))
            .await,
        0
    );
    assert_eq!(
        api.count(json!({ "or": [{ "crowd": apart[0] }, { "crowd": apart[1] }] }))
            .await,
        (b.len() + f.len()) as u64
    );
    assert_eq!(
        api.count(json!({ "not": { "crowd": apart[0] } })).await,
        (p.all.len() - b.len()) as u64
    );
    for (id, set) in apart.iter().zip(&sets) {
        let c = api.crowd(id).await;
        assert_eq!(c["size"], set.len(), "{c}");
        assert_eq!(c["attempts"], 1, "{c}");
        assert!(
            c["scored"].as_u64().is_some_and(|n| n >= set.len() as u64),
            "{c}"
        );
    }

    let sets = crowds_of(&api, &together).await;
    let (b, f) = (&sets[0], &sets[1]);
    assert_relevant(&p, b, f);
    let in_both: HashSet<String> = b.intersection(f).cloned().collect();
    assert!(
        share(&in_both, &p.both) >= 0.9,
        "is_overlap true: devices tagged both belong in both crowds, {} of {} are",
        in_both.intersection(&p.both).count(),
        p.both.len()
    );
}

#[tokio::test]
async fn crowds_match_tags_through_words_and_bigrams() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let cids = api.register(devices(30, Some("op"))).await;
    let g = api.getui().await;
    // per-cid overwrite: `篮球迷` shares the bigram 篮球 with the copy, `足球` nothing
    for (i, cid) in cids.iter().enumerate() {
        let tags = match i % 3 {
            0 => json!(["篮球迷", "travel"]),
            1 => json!(["足球"]),
            _ => json!(["travel"]),
        };
        g.post(
            &format!("/user/custom_tag/cid/{cid}"),
            json!({ "custom_tag": tags }),
        )
        .await
        .ok();
    }
    let ids = create(&g, plan("分词", vec![basketball()])).await;
    wait_succeeded(&g, &ids).await;
    let want: HashSet<String> = cids.iter().step_by(3).cloned().collect();
    assert_eq!(api.crowd_members(&ids[0]).await, want);
}

#[tokio::test]
async fn crowds_keep_to_the_brands_asked_for() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let brands = [
        Some("hw"),
        Some("xm"),
        Some("op"),
        Some("vv"),
        Some("mz"),
        Some("iphone"),
        Some("samsung"),
        Some("huawei"),
        None,
    ];
    let mut by_brand = Vec::new();
    for b in brands {
        let cids = api.register(devices(15, b)).await;
        by_brand.push((b, cids));
    }
    let g = api.getui().await;
    let everyone: Vec<String> = by_brand.iter().flat_map(|(_, c)| c.clone()).collect();
    tag(&g, "篮球", &everyone).await;
    let of = |wanted: &[Option<&str>]| -> HashSet<String> {
        by_brand
            .iter()
            .filter(|(b, _)| wanted.contains(b))
            .flat_map(|(_, c)| c.iter().cloned())
            .collect()
    };
    let cases = [
        (json!(["hw"]), of(&[Some("hw")])),
        (
            json!(["other"]),
            of(&[Some("iphone"), Some("samsung"), Some("huawei"), None]),
        ),
        (json!(["xm", "mz"]), of(&[Some("xm"), Some("mz")])),
        (json!(["op", "vv", "other"]), {
            of(&[
                Some("op"),
                Some("vv"),
                Some("iphone"),
                Some("samsung"),
                Some("huawei"),
                None,
            ])
        }),
    ];
    let mut ids = Vec::new();
    for (brand_list, _) in &cases {
        let body = plan_with(
            "品牌",
            vec![basketball()],
            json!({ "brand_list": brand_list }),
        );
        ids.extend(create(&g, body).await);
    }
    wait_succeeded(&g, &ids).await;
    for (id, (brand_list, want)) in ids.iter().zip(&cases) {
        assert_eq!(
            &api.crowd_members(id).await,
            want,
            "brand_list {brand_list}"
        );
    }
}

#[tokio::test]
async fn crowds_filter_on_activity_and_leave_out_the_blacklisted() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let now = now_ms();
    let active_at = |days_ago: i64, n: usize| -> Vec<Value> {
        let at = now - days_ago * DAY_MS;
        (0..n)
            .map(|_| {
                json!({ "phone_type": "android", "brand": "hw", "create_time": at - DAY_MS,
                             "last_login_time": at })
            })
            .collect()
    };
    let recent = [
        api.register(active_at(1, 20)).await,
        api.register(active_at(29, 5)).await,
    ]
    .concat();
    let old = [
        api.register(active_at(40, 20)).await,
        api.register(active_at(31, 5)).await,
    ]
    .concat();
    let g = api.getui().await;
    tag(&g, "篮球", &[recent.clone(), old.clone()].concat()).await;
    let banned = [recent[..5].to_vec(), old[..5].to_vec()].concat();
    blacklist(&g, &banned).await;

    let active = create(
        &g,
        plan_with(
            "活跃",
            vec![basketball()],
            json!({ "active_type": 1, "active_range": 30 }),
        ),
    )
    .await;
    let inactive = create(
        &g,
        plan_with(
            "不活跃",
            vec![basketball()],
            json!({ "active_type": -1, "active_range": 30 }),
        ),
    )
    .await;
    // active in the last 2 days: only the one-day group
    let narrow = create(
        &g,
        plan_with(
            "两天",
            vec![basketball()],
            json!({ "active_type": 1, "active_range": 2 }),
        ),
    )
    .await;
    wait_succeeded(
        &g,
        &[active.clone(), inactive.clone(), narrow.clone()].concat(),
    )
    .await;
    let without_banned = |cids: &[String]| -> HashSet<String> {
        cids.iter()
            .filter(|c| !banned.contains(c))
            .cloned()
            .collect()
    };
    assert_eq!(api.crowd_members(&active[0]).await, without_banned(&recent));
    assert_eq!(api.crowd_members(&inactive[0]).await, without_banned(&old));
    assert_eq!(
        api.crowd_members(&narrow[0]).await,
        without_banned(&recent[..20])
    );
}

#[tokio::test]
async fn crowds_are_capped_and_may_be_empty() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let (g, all) = api.basketball_fans(1600, "vv", 1500).await;
    let cids = &all[..1500];
    // 300 of them also opened basketball copy: they score higher and must all make the cut
    for cid in &cids[1200..1500] {
        let (st, body) = api
            .event(cid, json!({ "type": "open", "text": BASKETBALL_OPENED }))
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT, "open event: {body}");
    }
    let ids = create(&g, plan("封顶", vec![basketball(), unmatched()])).await;
    let got = wait_succeeded(&g, &ids).await;
    assert_eq!(
        (&got[0]["can_push"], &got[1]["can_push"]),
        (&json!(true), &json!(false))
    );
    let capped = api.crowd(&ids[0]).await;
    assert_eq!(capped["size"], 1000, "{capped}");
    let members = api.crowd_members(&ids[0]).await;
    assert_eq!(members.len(), 1000);
    let tagged: HashSet<String> = cids.iter().cloned().collect();
    assert!(members.is_subset(&tagged), "untagged devices scored");
    let engaged: HashSet<String> = cids[1200..1500].iter().cloned().collect();
    assert!(
        engaged.is_subset(&members),
        "{} of the 300 top scorers were left out",
        engaged.difference(&members).count()
    );
    let empty = api.crowd(&ids[1]).await;
    assert_eq!(
        (&empty["status"], &empty["size"], &empty["can_push"]),
        (&json!(4), &json!(0), &json!(false))
    );
    assert_eq!(api.count(json!({ "crowd": ids[1] })).await, 0);
    // an empty crowd is a success: the plan succeeded
    assert_eq!(models(&g, json!({ "name": "封顶" })).await[0]["status"], 4);
}

#[tokio::test]
async fn crowds_stop() {
    let srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let p = plant(&api).await;
    let g = api.getui().await;
    let tasks: Vec<Value> = (0..10)
        .map(|i| task(&format!("篮球决赛第{i}场"), "今晚篮球比赛直播"))
        .collect();
    let ids = create(
        &g,
        plan_with("停止", tasks.clone(), json!({ "is_overlap": true })),
    )
    .await;
    // stop the last sub-task at once: it is most likely still waiting
    let (st, stopped) = api.stop(&ids[9]).await;
    assert_eq!(st, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["sub_task_id"], ids[9].as_str());
    let status = stopped["status"].as_i64();
    // a second plan, likely queued behind the first: all its sub-tasks stopped at once
    let queued = create(&g, plan("全部停止", tasks[..3].to_vec())).await;
    let (r0, r1, r2) = tokio::join!(
        api.stop(&queued[0]),
        api.stop(&queued[1]),
        api.stop(&queued[2])
    );
    let mut all_stopped = true;
    for (st, c) in [r0, r1, r2] {
        assert_eq!(st, StatusCode::OK, "{c}");
        all_stopped &= c["status"] == 5;
    }
    let got = wait_ended(&g, &ids).await;
    for e in &got[..9] {
        assert_eq!(e["status"], 4, "{e}");
    }
    match status {
        Some(5) => {
            assert_eq!(
                (&got[9]["status"], &got[9]["can_push"]),
                (&json!(5), &json!(false))
            );
            let c = api.crowd(&ids[9]).await;
            assert_eq!((&c["status"], &c["size"]), (&json!(5), &json!(0)), "{c}");
            assert_eq!(api.count(json!({ "crowd": ids[9] })).await, 0);
            // all ended, not all succeeded, 5 the only failure: the plan is 5
            assert_eq!(models(&g, json!({ "name": "停止" })).await[0]["status"], 5);
        }
        // it had already succeeded: stopping changed nothing
        Some(4) => assert_eq!(got[9]["status"], 4),
        _ => panic!("a stopped sub-task is 5, or 4 when it had already succeeded: {stopped}"),
    }
    let got = wait_ended(&g, &queued).await;
    if all_stopped {
        for e in &got {
            assert_eq!(
                (&e["status"], &e["can_push"]),
                (&json!(5), &json!(false)),
                "{e}"
            );
        }
        assert_eq!(
            models(&g, json!({ "name": "全部停止" })).await[0]["status"],
            5
        );
        assert_eq!(api.count(json!({ "crowd": queued[0] })).await, 0);
    }
    // stopping an ended sub-task keeps its status and crowd
    let before = api.crowd_members(&ids[0]).await;
    assert!(!before.is_empty() && share(&p.basketball, &before) >= 0.9);
    let (st, again) = api.stop(&ids[0]).await;
    assert_eq!(
        (st, &again["status"]),
        (StatusCode::OK, &json!(4)),
        "{again}"
    );
    assert_eq!(api.crowd(&ids[0]).await["status"], 4);
    assert_eq!(api.crowd_members(&ids[0]).await, before);
    assert_eq!(task_list(&g, &ids[..1]).await[0]["can_push"], true);
}

#[tokio::test]
async fn crowds_time_out() {
    let srv = TestServer::start_with_crowd_timeout(Duration::ZERO).await;
    let api = Api::create(&srv).await;
    let (g, _) = api.basketball_fans(50, "hw", 50).await;
    let ids = create(&g, plan("超时", vec![basketball(), food()])).await;
    for e in wait_ended(&g, &ids).await {
        assert_eq!(
            (&e["status"], &e["can_push"]),
            (&json!(2), &json!(false)),
            "{e}"
        );
    }
    assert_eq!(models(&g, json!({})).await[0]["status"], 2);
    assert!(models(&g, json!({ "status": 4 })).await.is_empty());
    assert_eq!(models(&g, json!({ "status": 2 })).await.len(), 1);
    let c = api.crowd(&ids[0]).await;
    assert_eq!((&c["status"], &c["size"]), (&json!(2), &json!(0)), "{c}");
    assert_eq!(api.count(json!({ "crowd": ids[0] })).await, 0);
}

#[tokio::test]
async fn crowds_timeout_is_set_by_flag_and_env() {
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let by_flag = Launch {
        args: vec!["serve".into(), "--crowd-timeout".into(), "0s".into()],
        ..Launch::default()
    };
    let by_env = Launch {
        env: vec![("ROSTER_CROWD_TIMEOUT".into(), "0s".into())],
        ..Launch::default()
    };
    // a generous limit given the same ways: jobs succeed
    let generous = Launch {
        args: vec!["serve".into(), "--crowd-timeout".into(), "1h".into()],
        env: vec![("ROSTER_CROWD_TIMEOUT".into(), "0s".into())],
        ..Launch::default()
    };
    for (how, launch, want) in [
        ("flag", by_flag, 2),
        ("env", by_env, 2),
        ("flag over env", generous, 4),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let proc = RosterProcess::launch(bin, dir.path(), launch).await;
        let api = Api::create_at(&reqwest::Client::new(), &proc.base).await;
        let (g, _) = api.basketball_fans(20, "hw", 20).await;
        let ids = create(&g, plan("超时配置", vec![basketball()])).await;
        let got = wait_ended(&g, &ids).await;
        assert_eq!(got[0]["status"], want, "{how}: {}", got[0]);
        assert_eq!(models(&g, json!({})).await[0]["status"], want, "{how}");
    }
}

fn relevance_plan(name: &str) -> Value {
    plan(name, vec![basketball(), food()])
}

#[tokio::test]
async fn crowds_survive_an_in_process_restart() {
    let mut srv = TestServer::start().await;
    let api = Api::create(&srv).await;
    let p = plant(&api).await;
    let g = api.getui().await;
    let first = create(&g, relevance_plan("重启前")).await;
    srv.restart().await;
    // the port changed
    let api = Api::of(&srv, &api.app);
    let g = api.getui().await;
    wait_succeeded(&g, &first).await;
    let before = crowds_of(&api, &first).await;
    assert_relevant(&p, &before[0], &before[1]);
    for id in &first {
        let c = api.crowd(id).await;
        assert!(c["attempts"].as_u64().is_some_and(|n| n >= 1), "{c}");
    }
    // the same plan on the same data, with no restart in between: the same crowds
    let second = create(&g, relevance_plan("重启后")).await;
    wait_succeeded(&g, &second).await;
    assert_eq!(crowds_of(&api, &second).await, before);
}

#[tokio::test]
async fn crowds_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let mut proc = RosterProcess::start(bin, dir.path()).await;
    let api = Api::create_at(&reqwest::Client::new(), &proc.base).await;
    let p = plant(&api).await;
    let g = api.getui().await;
    let first = create(&g, relevance_plan("杀死前")).await;
    proc.kill_and_restart().await;
    let g = api.getui().await;
    wait_succeeded(&g, &first).await;
    let before = crowds_of(&api, &first).await;
    assert_relevant(&p, &before[0], &before[1]);
    for id in &first {
        let c = api.crowd(id).await;
        // claimed once, or twice when the kill caught it computing
        assert!(
            c["attempts"].as_u64().is_some_and(|n| (1..=2).contains(&n)),
            "{c}"
        );
    }
    let second = create(&g, relevance_plan("杀死后")).await;
    wait_succeeded(&g, &second).await;
    assert_eq!(crowds_of(&api, &second).await, before);
    // and once more after a second kill, with nothing running
    proc.kill_and_restart().await;
    let g = api.getui().await;
    assert_eq!(task_list(&g, &first).await.len(), 2);
    assert_eq!(crowds_of(&api, &first).await, before);
}

#[tokio::test]
async fn crowds_on_two_nodes_are_computed_once() {
    let db = database().await;
    let bin = Path::new(env!("CARGO_BIN_EXE_roster"));
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let node_a = RosterProcess::start_with_store(bin, dir_a.path(), Some(db.url())).await;
    let node_b = RosterProcess::start_with_store(bin, dir_b.path(), Some(db.url())).await;
    let http = reqwest::Client::new();
    let a = Api::create_at(&http, &node_a.base).await;
    let b = Api::at(&http, &node_b.base, &a.app);
    let p = plant(&a).await;
    let (ga, gb) = (a.getui().await, b.getui().await);
    // B has applied everything written through A before any plan exists
    let w = ga
        .put(
            "/user/custom_tag/batch/sync",
            json!({ "cid": [p.all[2999]] }),
        )
        .await;
    w.ok();
    gb.after_seq(w.seq).get("/user/status/x").await.ok();

    let mut ids = Vec::new();
    for i in 0..4 {
        let g = if i % 2 == 0 { &ga } else { &gb };
        ids.push(create(g, relevance_plan(&format!("双节点{i}"))).await);
    }
    let flat = ids.concat();
    wait_succeeded(&ga, &flat).await;
    wait_succeeded(&gb, &flat).await;
    let listed = models(&ga, json!({})).await;
    assert_eq!(listed.len(), 4);
    assert_eq!(
        models(&gb, json!({})).await,
        listed,
        "both nodes list the same plans"
    );
    let mut crowds = Vec::new();
    for id in &flat {
        let (ca, cb) = (a.crowd(id).await, b.crowd(id).await);
        assert_eq!(ca["attempts"], 1, "computed more than once: {ca}");
        assert_eq!(
            (&cb["attempts"], &cb["status"], &cb["size"]),
            (&ca["attempts"], &ca["status"], &ca["size"])
        );
        let size = ca["size"].as_u64().expect("size");
        assert!(size > 0, "{ca}");
        let members = a.crowd_members(id).await;
        assert_eq!(members.len() as u64, size);
        // B's index follows the log: give it a moment to hold the crowd too
        let mut on_b = b.crowd_members(id).await;
        for _ in 0..100 {
            if on_b == members {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            on_b = b.crowd_members(id).await;
        }
        assert_eq!(on_b, members, "node B's crowd {id} differs from A's");
        assert_eq!(b.count(json!({ "crowd": id })).await, size);
        crowds.push(members);
    }
    assert_relevant(&p, &crowds[0], &crowds[1]);
    // the same plan on the same data gives the same crowds, whichever node computed it
    for pair in crowds.chunks(2).skip(1) {
        assert_eq!(pair, &crowds[..2]);
    }
}
