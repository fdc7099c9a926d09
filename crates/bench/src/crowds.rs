//! The smart-crowd phase (文案圈人): a seeded app of `--crowd-devices` devices with
//! Chinese interest tags is imported into a store of its own, indexed and served
//! in-process; then, over HTTP as a Getui client does it, a plan of `--crowd-tasks`
//! copies is created (`smart_crowd/create`) and `smart_crowd/task/list` is polled
//! every 20 ms until every sub-task has status 4. It prints the time from the create
//! request to the last status 4 next to the 30 s the issue allows at 1M devices, the
//! server's own `ended_at - started_at`, the crowd sizes, and the job's memory: the
//! model's estimate (`roster_crowd::working_bytes`) and the process RSS growth, each
//! as a ratio to the app's audience index. Once without overlap, once with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use roster_core::{AppId, NewApp, PhoneType};
use roster_store::{Backend as StoreBackend, ImportDevice, Registry, Store};
use roster_store_postgres::PgStore;
use roster_store_sqlite::SqliteStore;
use serde_json::{json, Value};

use crate::{err, http, rss_bytes, Args, Backend};

/// The interest tags, Chinese as Chinese apps name them. The first ten are the ones
/// the plan's copies are about ([`COPIES`]).
pub(crate) const TAGS: [&str; 50] = [
    "篮球",
    "足球",
    "美食",
    "旅游",
    "理财",
    "游戏",
    "电影",
    "音乐",
    "汽车",
    "母婴",
    "健身",
    "数码",
    "美妆",
    "教育",
    "宠物",
    "摄影",
    "阅读",
    "动漫",
    "电竞",
    "户外",
    "家居",
    "时尚",
    "科技",
    "财经",
    "房产",
    "职场",
    "养生",
    "烘焙",
    "茶艺",
    "书法",
    "绘画",
    "舞蹈",
    "瑜伽",
    "跑步",
    "骑行",
    "钓鱼",
    "露营",
    "滑雪",
    "游泳",
    "网球",
    "羽毛球",
    "乒乓球",
    "围棋",
    "象棋",
    "手游",
    "综艺",
    "追剧",
    "小说",
    "园艺",
    "星座",
];

/// The plan's copies (topic, content), each about the tag at the same position of
/// [`TAGS`]: topics of at most 20 characters, contents of at most 50, no white space.
pub(crate) const COPIES: [(&str, &str); 10] = [
    ("篮球决赛今晚开打", "湖人对阵勇士总决赛直播"),
    ("足球世界杯预选赛开战", "国足主场迎战日本队现场直播"),
    ("周末美食地图新鲜出炉", "本地人私藏的十家火锅店推荐"),
    ("五一旅游攻略提前看", "热门景点门票限时五折预订"),
    ("理财新手必看指南", "稳健收益产品一键对比"),
    ("新游戏公测今日开启", "登录即送限定皮肤和十连抽"),
    ("暑期档电影抢先看", "热门大片影票特惠九块九"),
    ("草莓音乐节门票开抢", "三天两夜豪华阵容官宣"),
    ("新能源汽车限时补贴", "热门车型试驾预约送好礼"),
    ("母婴好物年中大促", "奶粉纸尿裤满减优惠进行中"),
];

/// Brands with their share in percent; `None` is a device without a brand. Every
/// group of `brand_list` is there: `iphone` and no brand fall in `other`.
const BRANDS: [(Option<&str>, u32); 7] = [
    (Some("hw"), 26),
    (Some("xm"), 18),
    (Some("op"), 15),
    (Some("vv"), 14),
    (Some("mz"), 4),
    (Some("iphone"), 18),
    (None, 5),
];

/// Devices registered (and last logged in: the bulk import sets `last_login_time` to
/// `create_time`) within this many days before now.
const SPREAD_DAYS: i64 = 60;
/// The plans' activity window, days: every generated device is active within it.
const ACTIVE_RANGE: u32 = 90;
/// How often `task/list` is polled.
const POLL: Duration = Duration::from_millis(20);
/// What the issue allows a 10-task plan at 1M devices, from create to status 4.
const LIMIT: Duration = Duration::from_secs(30);
/// Sub-task status: succeeded.
const SUCCEEDED: i64 = 4;

const MIB: f64 = 1024.0 * 1024.0;

/// `n` with thousands separators: `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The process's anonymous resident memory (heap and stacks), from
/// `/proc/self/status`'s `RssAnon`: unlike the whole RSS, it leaves out the pages of
/// files mapped in, such as the embedded store's database (SQLite maps it with
/// `mmap_size`, per connection).
fn rss_anon_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// Produces the app's devices in batches.
struct Generator {
    rng: StdRng,
    tags: usize,
    left: u64,
    now: i64,
}

impl Generator {
    fn batch(&mut self, n: usize) -> Vec<ImportDevice> {
        let take = self.left.min(n as u64);
        self.left -= take;
        (0..take).map(|_| self.device()).collect()
    }

    fn device(&mut self) -> ImportDevice {
        let r = &mut self.rng;
        let cid = format!("{:032x}", r.gen::<u128>());
        let mut pick = r.gen_range(0..100);
        let mut brand = None;
        for (b, share) in BRANDS {
            if pick < share {
                brand = b;
                break;
            }
            pick -= share;
        }
        let how_many = r.gen_range(1..=5).min(self.tags);
        let tags = sample(r, self.tags, how_many)
            .into_iter()
            .map(|i| TAGS[i].to_owned())
            .collect();
        ImportDevice {
            cid,
            phone_type: if brand == Some("iphone") {
                PhoneType::Ios
            } else {
                PhoneType::Android
            },
            brand: brand.map(str::to_owned),
            region: None,
            tags,
            alias: None,
            notification_switch: !r.gen_bool(0.15),
            blacklisted: r.gen_bool(0.01),
            create_time: self.now - r.gen_range(0..SPREAD_DAYS * 86_400_000),
            app_version: None,
        }
    }
}

/// Runs the phase: on a fresh embedded store in a temporary directory, or, with
/// `--store`, as a new app of that PostgreSQL database.
pub(crate) async fn crowds(args: &Args) -> anyhow::Result<()> {
    if args.crowd_tags == 0 || args.crowd_tags > TAGS.len() {
        bail!("--crowd-tags: 1 to {}", TAGS.len());
    }
    if args.crowd_tasks == 0 || args.crowd_tasks > COPIES.len() {
        bail!("--crowd-tasks: 1 to {}", COPIES.len());
    }
    let tmp = tempfile::tempdir()?;
    let backend = match &args.store {
        Some(url) => Backend::Postgres(Arc::new(PgStore::open(url).await.map_err(err)?)),
        None => Backend::Sqlite(Arc::new(SqliteStore::open_in_dir(tmp.path()).map_err(err)?)),
    };
    let app = NewApp::new("bench crowds", roster_core::time::now_ms()).map_err(err)?;
    backend.store().create_app(&app).await.map_err(err)?;
    let id = app.credentials.app_id.clone();
    let started = Instant::now();
    let mut generator = Generator {
        rng: StdRng::seed_from_u64(args.seed ^ 0x4352_4f57_4453),
        tags: args.crowd_tags,
        left: args.crowd_devices,
        now: roster_core::time::now_ms(),
    };
    loop {
        let batch = generator.batch(50_000);
        if batch.is_empty() {
            break;
        }
        backend.import(&id, batch).await?;
    }
    println!();
    println!(
        "crowds: generated {} devices with {} Chinese interest tags (1-5 each) in {:.1} s",
        thousands(args.crowd_devices),
        args.crowd_tags,
        started.elapsed().as_secs_f64()
    );
    let creds = serde_json::to_value(&app.credentials)?;
    match backend {
        Backend::Sqlite(s) => measure(args, s, &id, &creds).await,
        Backend::Postgres(s) => measure(args, s, &id, &creds).await,
    }
}

/// Indexes the store, serves it and times the two plans.
async fn measure<S: StoreBackend>(
    args: &Args,
    backend: Arc<S>,
    app: &AppId,
    creds: &Value,
) -> anyhow::Result<()> {
    let (indexed, stats) = Registry::indexed(backend.clone()).await.map_err(err)?;
    // On PostgreSQL the database may hold other apps: the index of this one alone.
    let heap = if stats.apps == 1 {
        stats.heap_bytes
    } else {
        backend.scan_index(app).await.map_err(err)?.0.heap_bytes()
    } as u64;
    let max_ordinal = indexed
        .index()
        .and_then(|ix| ix.snapshot(app, &|_| false))
        .and_then(|s| s.all.max())
        .context("the crowd app has no devices")?;
    println!(
        "crowds: index rebuilt in {:.2} s; audience index {} ({:.1} bytes/device)",
        stats.elapsed.as_secs_f64(),
        mib(heap),
        heap as f64 / args.crowd_devices.max(1) as f64
    );
    let serving: Arc<dyn Store> = Arc::new(indexed);
    let running = http::serve(serving).await?;
    let root = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let base = format!("{root}/v2/{app}");
    let token = http::token(&client, &base, creds).await?;
    let site = Site {
        http: client,
        base,
        native: format!("{root}/api/v1/apps/{app}/crowds"),
        token,
        key: creds["getui"]["app_key"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        secret: creds["getui"]["master_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    // The segmenter loads its dictionary once per process, on first use: load it now,
    // so that the RSS growth of a job is the job's.
    let rss = rss_bytes();
    roster_crowd::features(COPIES[0].0);
    println!(
        "crowds: jieba dictionary loaded beforehand (RSS +{}, once per process)",
        mib(rss_bytes().saturating_sub(rss))
    );
    let outcome = async {
        for overlap in [false, true] {
            let run = site.plan(args, overlap).await?;
            report(args, &run, heap, max_ordinal, overlap);
        }
        anyhow::Ok(())
    }
    .await;
    running.stop().await?;
    outcome
}

/// The served app, as a Getui client and a native one see it.
struct Site {
    http: reqwest::Client,
    /// `…/v2/{app}`.
    base: String,
    /// `…/api/v1/apps/{app}/crowds`.
    native: String,
    token: String,
    key: String,
    secret: String,
}

/// One plan's figures.
struct Run {
    /// Create request sent → last status 4 seen.
    elapsed: Duration,
    /// `ended_at - started_at` of the plan, ms.
    server_ms: i64,
    /// Size and scored devices of each sub-task, in task order.
    crowds: Vec<(u64, u64)>,
    /// Highest RSS growth seen while polling, over the RSS at the create request.
    rss_growth: u64,
    /// The same, of the anonymous RSS alone.
    anon_growth: u64,
    /// `task/list` calls made.
    polls: usize,
}

impl Site {
    async fn getui(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let reply: Value = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("token", &self.token)
            .json(body)
            .send()
            .await?
            .json()
            .await?;
        if reply["code"].as_i64() != Some(0) {
            bail!("{path} answered {reply}");
        }
        Ok(reply["data"].clone())
    }

    /// Creates a plan of `--crowd-tasks` copies and polls until every sub-task has
    /// status 4.
    async fn plan(&self, args: &Args, overlap: bool) -> anyhow::Result<Run> {
        let tasks: Vec<Value> = COPIES[..args.crowd_tasks]
            .iter()
            .map(|(topic, content)| json!({ "topic": topic, "content": content }))
            .collect();
        let body = json!({
            "name": if overlap { "压测可重叠" } else { "压测不重叠" },
            "tasks": tasks,
            "brand_list": ["hw", "xm", "op", "vv", "mz", "other"],
            "package_num": args.crowd_package,
            "active_range": ACTIVE_RANGE,
            "active_type": 1,
            "is_overlap": overlap,
        });
        let (rss0, anon0) = (rss_bytes(), rss_anon_bytes());
        let (mut rss_peak, mut anon_peak) = (rss0, anon0);
        let started = Instant::now();
        let created = self.getui("user/smart_crowd/create", &body).await?;
        let ids = created["sub_task_ids"].clone();
        let ids_list = ids.as_array().context("sub_task_ids")?.clone();
        let deadline = started + roster_server::DEFAULT_CROWD_TIMEOUT + Duration::from_secs(30);
        let list = json!({ "sub_task_ids": ids });
        let mut polls = 0;
        let elapsed = loop {
            tokio::time::sleep(POLL).await;
            rss_peak = rss_peak.max(rss_bytes());
            anon_peak = anon_peak.max(rss_anon_bytes());
            let listed = self.getui("user/smart_crowd/task/list", &list).await?;
            polls += 1;
            let statuses: Vec<i64> = listed
                .as_array()
                .context("task/list data")?
                .iter()
                .map(|t| t["status"].as_i64().unwrap_or(-1))
                .collect();
            if statuses.len() == ids_list.len() && statuses.iter().all(|&s| s == SUCCEEDED) {
                break started.elapsed();
            }
            if let Some(s) = statuses.iter().find(|&&s| ![0, 1, SUCCEEDED].contains(&s)) {
                bail!("a sub-task ended with status {s} (2 timed out, 3 failed, 5 stopped)");
            }
            if Instant::now() > deadline {
                bail!("no status 4 after {:.0?}", started.elapsed());
            }
        };
        let mut crowds = Vec::new();
        let mut server_ms = 0;
        for id in &ids_list {
            let id = id.as_str().context("sub_task_id")?;
            let r = self
                .http
                .get(format!("{}/{id}", self.native))
                .basic_auth(&self.key, Some(&self.secret))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("GET crowds/{id} answered {}", r.status());
            }
            let crowd: Value = r.json().await?;
            crowds.push((
                crowd["size"].as_u64().unwrap_or_default(),
                crowd["scored"].as_u64().unwrap_or_default(),
            ));
            if let (Some(a), Some(b)) = (crowd["started_at"].as_i64(), crowd["ended_at"].as_i64()) {
                server_ms = b - a;
            }
        }
        Ok(Run {
            elapsed,
            server_ms,
            crowds,
            rss_growth: rss_peak.saturating_sub(rss0),
            anon_growth: anon_peak.saturating_sub(anon0),
            polls,
        })
    }
}

/// Prints one plan's figures.
fn report(args: &Args, run: &Run, heap: u64, max_ordinal: u32, overlap: bool) {
    let params = roster_crowd::Params {
        package_num: args.crowd_package,
        overlap,
    };
    let working = roster_crowd::working_bytes(max_ordinal, &params) as u64;
    let index = heap.max(1) as f64;
    let secs = run.elapsed.as_secs_f64();
    println!(
        "crowds: {} devices, {} tasks, is_overlap {overlap}: status 4 in {secs:.2} s (limit {} s{}); job working set {} = {:.2}× index ({}); RSS +{} = {:.2}× index (anonymous +{} = {:.2}× index, the rest mapped store file)",
        thousands(args.crowd_devices),
        args.crowd_tasks,
        LIMIT.as_secs(),
        if run.elapsed <= LIMIT { ", met" } else { ", MISSED" },
        mib(working),
        working as f64 / index,
        mib(heap),
        mib(run.rss_growth),
        run.rss_growth as f64 / index,
        mib(run.anon_growth),
        run.anon_growth as f64 / index,
    );
    let sizes: Vec<String> = run
        .crowds
        .iter()
        .zip(TAGS)
        .map(|((size, _), tag)| format!("{tag} {}", thousands(*size)))
        .collect();
    let total: u64 = run.crowds.iter().map(|(size, _)| size).sum();
    println!(
        "  server ended_at - started_at {:.2} s; {} task/list polls; crowd sizes (package_num {}): {} (total {})",
        run.server_ms as f64 / 1000.0,
        run.polls,
        thousands(args.crowd_package),
        sizes.join(", "),
        thousands(total)
    );
    let scored: Vec<String> = run
        .crowds
        .iter()
        .map(|(_, scored)| thousands(*scored))
        .collect();
    println!("  scored per task: {}", scored.join(", "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_and_copies_name_their_tag() {
        let distinct: std::collections::HashSet<_> = TAGS.iter().collect();
        assert_eq!(distinct.len(), TAGS.len());
        for ((topic, content), tag) in COPIES.iter().zip(TAGS) {
            assert!(topic.contains(tag), "{topic} is not about {tag}");
            for (text, max) in [(topic, 20), (content, 50)] {
                assert!(text.chars().count() <= max, "{text}");
                assert!(!text.chars().any(char::is_whitespace), "{text}");
                let chinese = text.chars().filter(|&c| roster_core::crowd::is_chinese(c));
                assert!(chinese.count() >= 2, "{text}");
            }
        }
    }

    #[test]
    fn brand_shares_add_up() {
        assert_eq!(BRANDS.iter().map(|(_, s)| s).sum::<u32>(), 100);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
