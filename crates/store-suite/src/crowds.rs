//! Smart crowds in every backend: the plan queue (claims, heartbeats, a dead runner's
//! job re-claimed, a lost claim that cannot write, stop, release), what a job reads
//! (brand, activity and blacklist filters, tags, opened texts), and migrated history.

use std::sync::Arc;

use roaring::RoaringBitmap;
use roster_core::crowd::{BrandGroup, CrowdCopy, PlanSpec, Status};
use roster_core::{AppId, DeviceUpsert, PhoneType};
use roster_store::crowds::{JobCounts, JobEnd, NewPlan, TaskOutcome};
use roster_store::Store;

use crate::{cid, new_app, tag, DAY, NOW};

fn plan(name: &str, tasks: usize, brands: Vec<BrandGroup>, active_type: i64) -> NewPlan {
    let copies = (0..tasks)
        .map(|i| CrowdCopy::new(i, "篮球决赛", &format!("今晚直播{i}")).expect("copy"))
        .collect();
    NewPlan {
        plan_id: roster_core::crowd::new_id(),
        spec: PlanSpec::new(name, copies, brands, 1000, 30, active_type, false).expect("spec"),
        task_ids: (0..tasks).map(|_| roster_core::crowd::new_id()).collect(),
        create_time: NOW,
    }
}

fn outcome(id: &str, members: &[u32]) -> TaskOutcome {
    TaskOutcome {
        sub_task_id: id.to_owned(),
        members: members.iter().copied().collect(),
        scored: members.len() as u64 + 1,
        terms: vec![("篮球".into(), 0.5)],
    }
}

async fn statuses(s: &dyn Store, app: &AppId, plan_id: &str) -> Vec<Status> {
    let plans = s.crowd_plans(app).await.expect("plans");
    let p = plans.iter().find(|p| p.plan_id == plan_id).expect("plan");
    p.tasks.iter().map(|t| t.status).collect()
}

/// The queue: one claim per job, a dead runner's job re-claimed, a lost claim writes
/// nothing, stop and finish together, release, and crowds per app.
pub async fn crowd_queue(s: &dyn Store) {
    let app = new_app(s).await;
    let other = new_app(s).await;
    let p = plan("第一", 2, vec![BrandGroup::Hw], 1);
    s.create_crowd_plan(&app, &p).await.expect("create");
    let plans = s.crowd_plans(&app).await.expect("plans");
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].status(), Status::Waiting);
    assert_eq!(plans[0].spec, p.spec);
    assert_eq!(plans[0].attempts, 0);
    assert!(s.crowd_plans(&other).await.expect("plans").is_empty());
    let counts = || async { s.crowd_job_counts().await.expect("job counts") };
    assert_eq!(
        counts().await,
        JobCounts {
            queued: 1,
            running: 0
        }
    );

    // One claim takes it; nothing is left for a second.
    let a = s
        .claim_crowd_job("a", NOW, NOW - 10_000)
        .await
        .expect("claim");
    let a = a.expect("a job");
    assert_eq!(
        (a.app.clone(), a.plan.plan_id.clone()),
        (app.clone(), p.plan_id.clone())
    );
    assert_eq!(statuses(s, &app, &p.plan_id).await, [Status::Computing; 2]);
    assert_eq!(
        counts().await,
        JobCounts {
            queued: 0,
            running: 1
        }
    );
    assert!(s
        .claim_crowd_job("b", NOW, NOW - 10_000)
        .await
        .expect("claim")
        .is_none());
    assert!(s
        .crowd_job_alive("a", NOW + 1, &[(p.task_ids[0].clone(), 7)])
        .await
        .expect("alive"));
    let plans = s.crowd_plans(&app).await.expect("plans");
    assert_eq!(plans[0].tasks[0].scored, 7);
    assert_eq!(plans[0].started_at, Some(NOW));

    // Runner a dies: once its heartbeat is stale, b claims the job; a can no longer write.
    let b = s
        .claim_crowd_job("b", NOW + 20_000, NOW + 10_000)
        .await
        .expect("claim");
    assert_eq!(b.expect("re-claimed").plan.attempts, 2);
    let late = JobEnd::Succeeded(vec![outcome(&p.task_ids[0], &[1, 2, 3])]);
    s.finish_crowd_job("a", &late, NOW + 20_001)
        .await
        .expect("finish");
    assert_eq!(statuses(s, &app, &p.plan_id).await, [Status::Computing; 2]);
    assert!(!s
        .crowd_job_alive("a", NOW + 20_002, &[])
        .await
        .expect("alive"));
    assert!(s
        .crowd_job_alive("b", NOW + 20_002, &[])
        .await
        .expect("alive"));

    // A stopped sub-task stays stopped when the job finishes; the other gets its crowd.
    assert!(s
        .stop_crowd_task(&app, &p.task_ids[0], NOW)
        .await
        .expect("stop"));
    assert!(!s
        .stop_crowd_task(&other, &p.task_ids[1], NOW)
        .await
        .expect("stop"));
    let done = JobEnd::Succeeded(vec![
        outcome(&p.task_ids[0], &[9]),
        outcome(&p.task_ids[1], &[4, 5, 70_000]),
    ]);
    s.finish_crowd_job("b", &done, NOW + 30_000)
        .await
        .expect("finish");
    let plans = s.crowd_plans(&app).await.expect("plans");
    let t = &plans[0].tasks;
    assert_eq!(
        (t[0].status, t[1].status),
        (Status::Stopped, Status::Succeeded)
    );
    assert_eq!(plans[0].status(), Status::Stopped);
    assert_eq!(counts().await, JobCounts::default());
    assert_eq!((t[1].size, t[1].scored, t[1].can_push()), (3, 4, true));
    assert_eq!(t[1].terms, vec![("篮球".to_owned(), 0.5)]);
    assert_eq!(plans[0].ended_at, Some(NOW + 30_000));
    let members = |id: &str, app: &AppId| {
        let (id, app) = (id.to_owned(), app.clone());
        async move { s.crowd_members(&app, &id).await.expect("members") }
    };
    assert_eq!(
        members(&p.task_ids[1], &app).await,
        Some(RoaringBitmap::from_iter([4, 5, 70_000]))
    );
    assert_eq!(
        members(&p.task_ids[0], &app).await,
        Some(RoaringBitmap::new())
    );
    assert_eq!(members(&p.task_ids[1], &other).await, None);
    assert_eq!(members("unknown", &app).await, None);
    // Stopping an ended sub-task changes nothing.
    assert!(s
        .stop_crowd_task(&app, &p.task_ids[1], NOW)
        .await
        .expect("stop"));
    assert_eq!(
        statuses(s, &app, &p.plan_id).await,
        [Status::Stopped, Status::Succeeded]
    );

    // A released job goes back to the queue; a timed-out one ends at 2.
    let q = plan("第二", 1, vec![BrandGroup::Other], -1);
    s.create_crowd_plan(&app, &q).await.expect("create");
    assert!(s
        .claim_crowd_job("c", NOW, NOW - 1)
        .await
        .expect("claim")
        .is_some());
    s.release_crowd_job("c").await.expect("release");
    let d = s.claim_crowd_job("d", NOW, NOW - 1).await.expect("claim");
    assert_eq!(d.expect("again").plan.attempts, 2);
    s.finish_crowd_job("d", &JobEnd::TimedOut, NOW)
        .await
        .expect("finish");
    assert_eq!(statuses(s, &app, &q.plan_id).await, [Status::TimedOut]);
    let plans = s.crowd_plans(&app).await.expect("plans");
    assert_eq!(plans[0].plan_id, q.plan_id, "newest first");
    assert_eq!(plans[0].spec.brand_list(), "other");
    assert!(s
        .claim_crowd_job("e", NOW, NOW + 1)
        .await
        .expect("claim")
        .is_none());

    // Stopping every sub-task of a waiting plan ends it: no runner claims it.
    let r = plan("第三", 1, vec![BrandGroup::Hw], 1);
    s.create_crowd_plan(&app, &r).await.expect("create");
    s.stop_crowd_task(&app, &r.task_ids[0], NOW)
        .await
        .expect("stop");
    assert!(s
        .claim_crowd_job("f", NOW, NOW - 1)
        .await
        .expect("claim")
        .is_none());
}

/// Many runners claiming at once: each job goes to exactly one of them.
pub async fn crowd_claims_race(s: Arc<dyn Store>) {
    let app = new_app(s.as_ref()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let p = plan(&format!("计划{i}"), 1, vec![BrandGroup::Hw], 1);
        s.create_crowd_plan(&app, &p).await.expect("create");
        ids.push(p.plan_id);
    }
    let claims = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.claim_crowd_job(&format!("runner{i}"), NOW, NOW - 10_000)
                .await
                .expect("claim")
                .map(|j| j.plan.plan_id)
        })
    });
    let mut won: Vec<String> = Vec::new();
    for c in claims {
        won.extend(c.await.expect("join"));
    }
    won.sort();
    ids.sort();
    assert_eq!(won, ids, "every job claimed exactly once");
}

fn device(c: &str, brand: Option<&str>, last_login: i64) -> DeviceUpsert {
    DeviceUpsert {
        cid: Some(cid(c)),
        phone_type: Some(PhoneType::Android),
        brand: brand.map(str::to_owned),
        create_time: Some(last_login - DAY),
        last_login_time: Some(last_login),
        ..Default::default()
    }
}

/// What a job reads: brand groups (`other` is every brand outside the five), the
/// activity window from the plan's creation, the blacklist, wanted tags, opened texts.
pub async fn crowd_input(s: &dyn Store) {
    let app = new_app(s).await;
    let devices = [
        device("hw-new", Some("hw"), NOW - DAY),
        device("xm-new", Some("xm"), NOW - 2 * DAY),
        device("iphone-new", Some("iphone"), NOW - DAY),
        device("none-new", None, NOW - DAY),
        device("hw-old", Some("hw"), NOW - 40 * DAY),
        device("hw-black", Some("hw"), NOW - DAY),
    ];
    s.upsert_devices(&app, &devices, NOW).await.expect("upsert");
    // History is stored as given.
    let got = s
        .get_devices(&app, &[cid("hw-old")], NOW)
        .await
        .expect("get");
    assert_eq!(
        (got[0].create_time, got[0].last_login_time),
        (NOW - 41 * DAY, NOW - 40 * DAY)
    );
    s.set_blacklisted(&app, &[cid("hw-black")], true)
        .await
        .expect("black");
    for c in ["hw-new", "hw-old"] {
        s.add_tag(&app, &tag("篮球"), &[cid(c)]).await.expect("tag");
    }
    s.add_tag(&app, &tag("美食"), &[cid("xm-new")])
        .await
        .expect("tag");
    for (c, text) in [
        ("hw-new", "湖人篮球"),
        ("xm-new", "湖人篮球"),
        ("hw-new", "美食探店"),
    ] {
        s.record_open(&app, &cid(c), text, NOW).await.expect("open");
    }
    assert!(s
        .record_open(&app, &cid("hw-new"), "  ", NOW)
        .await
        .is_err());
    assert!(s
        .record_open(&app, &cid("missing"), "x", NOW)
        .await
        .is_err());

    let ords = |names: &[&str]| -> RoaringBitmap {
        // Ordinals follow insertion order.
        let all = [
            "hw-new",
            "xm-new",
            "iphone-new",
            "none-new",
            "hw-old",
            "hw-black",
        ];
        names
            .iter()
            .filter_map(|n| all.iter().position(|a| a == n))
            .map(|i| i as u32)
            .collect()
    };
    let input = |brands: Vec<BrandGroup>, active_type: i64| {
        let app = app.clone();
        async move {
            let p = plan("输入", 1, brands, active_type);
            s.create_crowd_plan(&app, &p).await.expect("create");
            let record = s
                .crowd_plans(&app)
                .await
                .expect("plans")
                .into_iter()
                .find(|r| r.plan_id == p.plan_id)
                .expect("plan");
            let wanted: roster_store::crowds::TagFilter = Arc::new(|t: &str| t == "篮球");
            s.crowd_input(&app, &record, NOW, wanted)
                .await
                .expect("input")
        }
    };
    let i = input(vec![BrandGroup::Hw], 1).await;
    assert_eq!(i.eligible, ords(&["hw-new"]));
    assert_eq!(i.max_ordinal, Some(5));
    let names: Vec<&str> = i.tags.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["篮球", "美食"]);
    assert_eq!(i.tags[0].1, ords(&["hw-new", "hw-old"]));
    assert!(i.tags[1].1.is_empty(), "unwanted tags bring no devices");
    assert_eq!(
        i.opens,
        vec![
            ("湖人篮球".to_owned(), ords(&["hw-new", "xm-new"])),
            ("美食探店".to_owned(), ords(&["hw-new"])),
        ]
    );
    let i = input(vec![BrandGroup::Other], 1).await;
    assert_eq!(i.eligible, ords(&["iphone-new", "none-new"]));
    assert_eq!(i.seen.len(), 1, "the earlier plan's copy");
    let i = input(vec![BrandGroup::Hw, BrandGroup::Xm], -1).await;
    assert_eq!(i.eligible, ords(&["hw-old"]));
}
