//! Rate limit settings, daily quota counts and the limiter over them, on every backend.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use roster_core::quota::{Action, LimitedAction, Quota, Span, Windows};
use roster_core::{AppId, Error};
use roster_store::quota::{DailyTake, Limiter};
use roster_store::Store;

use crate::{new_app, NOW};

fn take<'a>(app: &'a AppId, cid: &'a str, day: i64, limit: u64) -> DailyTake<'a> {
    DailyTake {
        app,
        action: Action::GetuiTagOverwrite,
        cid,
        day,
        ends_at: NOW + 1_000,
        limit,
    }
}

/// Settings: the vendor's until changed, one action at a time, reset, the time zone.
pub async fn quota_settings(s: &dyn Store) {
    let app = new_app(s).await;
    let ghost = AppId::parse("ghostghostghostghost01").expect("id");
    assert!(s.app_limits(&ghost).await.expect("read").is_none());
    let limits = s.app_limits(&app).await.expect("read").expect("app");
    assert_eq!(limits.time_zone, None, "the server's default until set");
    for a in Action::ALL {
        assert_eq!(limits.windows(a), a.defaults(), "{a:?}");
    }
    let w = Windows {
        per_second: Some(3),
        per_minute: None,
        per_day: Some(0),
        per_cid_per_day: None,
    };
    assert!(s
        .set_limits(&app, Action::GetuiTagBatch, &w)
        .await
        .expect("set"));
    assert!(!s
        .set_limits(&ghost, Action::GetuiTagBatch, &w)
        .await
        .expect("set"));
    let limits = s.app_limits(&app).await.expect("read").expect("app");
    assert_eq!(limits.windows(Action::GetuiTagBatch), w);
    assert_eq!(
        limits.windows(Action::GetuiAuth),
        Action::GetuiAuth.defaults()
    );
    assert!(s.set_time_zone(&app, "Europe/London").await.expect("zone"));
    assert!(!s.set_time_zone(&ghost, "UTC").await.expect("zone"));
    assert!(s
        .reset_limits(&app, Action::GetuiTagBatch)
        .await
        .expect("reset"));
    assert!(!s
        .reset_limits(&ghost, Action::GetuiTagBatch)
        .await
        .expect("reset"));
    let limits = s.app_limits(&app).await.expect("read").expect("app");
    assert_eq!(limits.time_zone, Some(chrono_tz::Europe::London));
    assert_eq!(
        limits.windows(Action::GetuiTagBatch),
        Action::GetuiTagBatch.defaults()
    );
}

/// Daily counts: exactly the quota, per cid and per day, give-back, pruning.
pub async fn quota_daily(s: &dyn Store) {
    let app = new_app(s).await;
    for n in 1..=3 {
        assert_eq!(
            s.take_daily(&take(&app, "c1", 20_261_130, 3))
                .await
                .expect("take"),
            Some(n)
        );
    }
    assert_eq!(
        s.take_daily(&take(&app, "c1", 20_261_130, 3))
            .await
            .expect("take"),
        None,
        "the fourth of three"
    );
    assert_eq!(
        s.take_daily(&take(&app, "c2", 20_261_130, 3))
            .await
            .expect("take"),
        Some(1),
        "another cid counts apart"
    );
    assert_eq!(
        s.take_daily(&take(&app, "c1", 20_261_201, 3))
            .await
            .expect("take"),
        Some(1),
        "another day counts apart"
    );
    assert_eq!(
        s.take_daily(&take(&app, "c3", 20_261_130, 0))
            .await
            .expect("take"),
        None,
        "a quota of 0 admits nothing"
    );
    s.give_back_daily(&take(&app, "c1", 20_261_130, 3))
        .await
        .expect("give back");
    assert_eq!(
        s.take_daily(&take(&app, "c1", 20_261_130, 3))
            .await
            .expect("take"),
        Some(3)
    );
    assert_eq!(
        s.daily_used(&app, Action::GetuiTagOverwrite, 20_261_130)
            .await
            .expect("used"),
        4,
        "three for c1, one for c2"
    );
    assert_eq!(
        s.daily_used(&app, Action::GetuiTagBatch, 20_261_130)
            .await
            .expect("used"),
        0
    );
    // Every row above ends at NOW + 1 s.
    assert_eq!(s.prune_quota_usage(NOW).await.expect("prune"), 0);
    assert_eq!(s.prune_quota_usage(NOW + 1_000).await.expect("prune"), 3);
    assert_eq!(
        s.daily_used(&app, Action::GetuiTagOverwrite, 20_261_130)
            .await
            .expect("used"),
        0
    );
}

/// Many callers at once for the last units of a quota: exactly the quota passes.
pub async fn quota_daily_race(s: Arc<dyn Store>) {
    let app = new_app(s.as_ref()).await;
    let tasks = (0..8).map(|_| {
        let (s, app) = (s.clone(), app.clone());
        tokio::spawn(async move {
            let mut passed = 0;
            for _ in 0..10 {
                if s.take_daily(&take(&app, "", 20_261_130, 25))
                    .await
                    .expect("take")
                    .is_some()
                {
                    passed += 1;
                }
            }
            passed
        })
    });
    let mut passed = 0;
    for t in tasks {
        passed += t.await.expect("join");
    }
    assert_eq!(passed, 25, "80 takes at a quota of 25");
    assert_eq!(
        s.daily_used(&app, Action::GetuiTagOverwrite, 20_261_130)
            .await
            .expect("used"),
        25
    );
}

/// The limiter over a store: both windows of the tag batch, the refused call counting
/// in neither, the per-cid overwrite, and an admin change seen at once after `forget`.
pub async fn quota_limiter(s: Arc<dyn Store>) {
    let app = new_app(s.as_ref()).await;
    let now = Arc::new(AtomicI64::new(NOW));
    let clock = {
        let now = now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let limiter = Limiter::new(s.clone(), clock, chrono_tz::Asia::Shanghai);
    let w = Windows {
        per_minute: Some(2),
        per_day: Some(3),
        ..Windows::default()
    };
    s.set_limits(&app, Action::GetuiTagBatch, &w)
        .await
        .expect("set");
    let batch = LimitedAction::TagBatch;
    let day_over =
        |r: Result<(), Error>| matches!(r, Err(Error::RateLimited { per_day: true, .. }));
    let minute_over =
        |r: Result<(), Error>| matches!(r, Err(Error::RateLimited { per_day: false, .. }));
    limiter.take(&app, &batch).await.expect("1st");
    limiter.take(&app, &batch).await.expect("2nd");
    assert!(
        minute_over(limiter.take(&app, &batch).await),
        "3rd in a minute"
    );
    now.fetch_add(60_000, Ordering::SeqCst);
    limiter.take(&app, &batch).await.expect("3rd of the day");
    assert!(day_over(limiter.take(&app, &batch).await), "4th of the day");
    assert_eq!(
        limiter.used(&app, Action::GetuiTagBatch, Span::Minute),
        1,
        "the call refused by the day gave its minute unit back"
    );

    let overwrite = |cid: &str| LimitedAction::TagOverwrite(cid.to_owned());
    limiter.take(&app, &overwrite("c1")).await.expect("c1");
    assert!(day_over(limiter.take(&app, &overwrite("c1")).await));
    limiter.take(&app, &overwrite("c2")).await.expect("c2");

    // Off by default; on once the admin sets it (at once after `forget`).
    for _ in 0..5 {
        limiter
            .take(&app, &LimitedAction::GetuiCall)
            .await
            .expect("no ceiling");
    }
    let one = Windows {
        per_second: Some(1),
        ..Windows::default()
    };
    s.set_limits(&app, Action::GetuiCall, &one)
        .await
        .expect("set");
    limiter.forget(&app);
    limiter
        .take(&app, &LimitedAction::GetuiCall)
        .await
        .expect("first");
    assert!(minute_over(
        limiter.take(&app, &LimitedAction::GetuiCall).await
    ));
    // An app that does not exist is the handler's to refuse, not the limiter's.
    let ghost = AppId::parse("ghostghostghostghost01").expect("id");
    limiter.take(&ghost, &batch).await.expect("unknown app");
}
