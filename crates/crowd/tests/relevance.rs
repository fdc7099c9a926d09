//! Relevance on a generated population: devices with a planted interest must make up
//! most of the crowd picked for copy about that interest, despite decoys that share
//! generic words (今晚, 直播, 周末) with the copy.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use roaring::RoaringBitmap;
use roster_crowd::{pick, Crowd, Inputs, Params, PushCopy};

const DEVICES: u32 = 20_000;
const PLANTED: u32 = 1_500;

/// Interests every device may have: no basketball, no food.
const GENERAL_TAGS: &[&str] = &[
    "足球", "旅游", "理财", "游戏", "电影", "音乐", "汽车", "母婴", "健身", "数码", "摄影", "读书",
    "宠物", "时尚", "美妆", "家居", "教育", "股票", "房产", "动漫", "综艺", "体育", "新闻", "科技",
    "军事", "历史", "养生",
];
const BASKETBALL_TAGS: &[&str] = &["篮球", "NBA", "篮球赛"];
const FOOD_TAGS: &[&str] = &["美食", "美食探店", "吃货"];

/// Copy anyone may have opened, including decoys with the generic words.
const GENERAL_OPENS: &[&str] = &[
    "足球联赛今晚直播",
    "欧冠小组赛今晚开踢",
    "五一旅游攻略大全",
    "周末旅游好去处",
    "理财直播课今晚开讲",
    "游戏直播今晚新赛季",
    "周末电影推荐不要错过",
    "演唱会今晚直播",
    "今晚直播精彩不要错过",
    "新车上市发布会直播",
    "健身打卡三十天",
];
const BASKETBALL_OPENS: &[&str] = &[
    "湖人今晚篮球比赛直播",
    "NBA季后赛勇士险胜",
    "篮球明星训练日常",
];
const FOOD_OPENS: &[&str] = &["周末美食探店推荐", "十道家常美食做法", "火锅美食节开幕"];

const BASKETBALL_COPY: PushCopy<'static> = PushCopy {
    topic: "篮球决赛今晚开打",
    content: "湖人对阵勇士总决赛精彩直播不要错过",
};
const FOOD_COPY: PushCopy<'static> = PushCopy {
    topic: "周末去哪吃",
    content: "本地美食探店榜单出炉，人气餐厅限时优惠",
};

struct Population {
    tags: Vec<(&'static str, RoaringBitmap)>,
    opens: Vec<(&'static str, RoaringBitmap)>,
    basketball: RoaringBitmap,
    food: RoaringBitmap,
    eligible: RoaringBitmap,
    seen: Vec<String>,
}

/// Earlier copy of the app: every interest in a few stock phrasings, so that the
/// generic words (今晚, 直播, 周末, 推荐, 优惠) are as common in the corpus as they are
/// in a real app's history.
fn seen_copy() -> Vec<String> {
    let templates = [
        "今晚八点{}直播",
        "周末{}好物推荐",
        "{}限时优惠今晚截止",
        "{}新品上市抢先看",
        "本周{}热门榜单出炉",
        "{}达人在线直播",
    ];
    let mut seen = Vec::new();
    for tag in GENERAL_TAGS.iter().chain(BASKETBALL_TAGS).chain(FOOD_TAGS) {
        for t in templates {
            seen.push(t.replace("{}", tag));
        }
    }
    seen
}

fn population() -> Population {
    let mut rng = StdRng::seed_from_u64(20_240_601);
    let mut tags: Vec<(&str, RoaringBitmap)> = GENERAL_TAGS
        .iter()
        .chain(BASKETBALL_TAGS)
        .chain(FOOD_TAGS)
        .map(|&t| (t, RoaringBitmap::new()))
        .collect();
    let mut opens: Vec<(&str, RoaringBitmap)> = GENERAL_OPENS
        .iter()
        .chain(BASKETBALL_OPENS)
        .chain(FOOD_OPENS)
        .map(|&t| (t, RoaringBitmap::new()))
        .collect();
    let add = |list: &mut Vec<(&str, RoaringBitmap)>, name: &str, d: u32| {
        if let Some((_, b)) = list.iter_mut().find(|(n, _)| *n == name) {
            b.insert(d);
        }
    };
    let mut ordinals: Vec<u32> = (0..DEVICES).collect();
    ordinals.shuffle(&mut rng);
    let basketball: RoaringBitmap = ordinals[..PLANTED as usize].iter().copied().collect();
    let food: RoaringBitmap = ordinals[PLANTED as usize..2 * PLANTED as usize]
        .iter()
        .copied()
        .collect();
    for d in 0..DEVICES {
        for _ in 0..rng.gen_range(1..=4) {
            add(
                &mut tags,
                GENERAL_TAGS[rng.gen_range(0..GENERAL_TAGS.len())],
                d,
            );
        }
        for _ in 0..rng.gen_range(0..=3) {
            add(
                &mut opens,
                GENERAL_OPENS[rng.gen_range(0..GENERAL_OPENS.len())],
                d,
            );
        }
        for (planted, its_tags, its_opens) in [
            (&basketball, BASKETBALL_TAGS, BASKETBALL_OPENS),
            (&food, FOOD_TAGS, FOOD_OPENS),
        ] {
            if !planted.contains(d) {
                continue;
            }
            // One to three signals of the interest, each a tag or an opened copy.
            let signals: Vec<&str> = its_tags.iter().chain(its_opens).copied().collect();
            let n = rng.gen_range(1..=3);
            for &signal in signals.choose_multiple(&mut rng, n) {
                if its_tags.contains(&signal) {
                    add(&mut tags, signal, d);
                } else {
                    add(&mut opens, signal, d);
                }
            }
        }
    }
    // Some devices are filtered out by the caller (inactive, blacklisted).
    let eligible = (0..DEVICES).filter(|_| rng.gen_bool(0.95)).collect();
    Population {
        tags,
        opens,
        basketball,
        food,
        eligible,
        seen: seen_copy(),
    }
}

fn crowds(p: &Population, copies: &[PushCopy<'_>], overlap: bool) -> Vec<Crowd> {
    let inputs = Inputs {
        tags: p.tags.iter().map(|(n, b)| (*n, b)).collect(),
        opens: p.opens.iter().map(|(n, b)| (*n, b)).collect(),
        seen: p.seen.iter().map(String::as_str).collect(),
        eligible: &p.eligible,
    };
    let params = Params {
        package_num: 1000,
        overlap,
    };
    pick(copies, &inputs, &params, &()).expect("not stopped")
}

/// Share of `crowd` in `planted`, printed.
fn share(label: &str, crowd: &Crowd, planted: &RoaringBitmap) -> f64 {
    let hits = crowd.members.intersection_len(planted);
    let share = hits as f64 / crowd.members.len().max(1) as f64;
    let terms: Vec<&str> = crowd.terms.iter().map(|t| t.term.as_str()).collect();
    println!(
        "{label}: {} devices, {hits} planted ({:.1}%), scored {}, terms {terms:?}",
        crowd.members.len(),
        share * 100.0,
        crowd.scored
    );
    share
}

#[test]
fn basketball_copy_finds_basketball_fans() {
    let p = population();
    let c = crowds(&p, &[BASKETBALL_COPY], true);
    assert_eq!(c[0].members.len(), 1000);
    assert!(c[0].members.is_subset(&p.eligible));
    assert!(share("basketball", &c[0], &p.basketball) >= 0.9);
}

#[test]
fn food_copy_finds_food_lovers() {
    let p = population();
    let c = crowds(&p, &[FOOD_COPY], true);
    assert_eq!(c[0].members.len(), 1000);
    assert!(c[0].members.is_subset(&p.eligible));
    assert!(share("food", &c[0], &p.food) >= 0.9);
}

#[test]
fn both_copies_without_overlap() {
    let p = population();
    let c = crowds(&p, &[BASKETBALL_COPY, FOOD_COPY], false);
    assert!(c[0].members.is_disjoint(&c[1].members));
    assert!(share("basketball, no overlap", &c[0], &p.basketball) >= 0.9);
    assert!(share("food, no overlap", &c[1], &p.food) >= 0.9);
    assert!(c[0].members.len() >= 900 && c[1].members.len() >= 900);
}
