//! Times `pick` on 1,000,000 eligible devices, 50 tags each carried by about 10% of
//! them at random, and 10 copies; prints the times and `working_bytes`.
//!
//! `cargo run --release -p roster-crowd --example pick_1m`

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use roaring::RoaringBitmap;
use roster_crowd::{pick, working_bytes, Inputs, Params, PushCopy};

const DEVICES: u32 = 1_000_000;

const TAGS: [&str; 50] = [
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
    "摄影",
    "读书",
    "宠物",
    "时尚",
    "美妆",
    "家居",
    "教育",
    "股票",
    "房产",
    "动漫",
    "综艺",
    "体育",
    "新闻",
    "科技",
    "军事",
    "历史",
    "养生",
    "烘焙",
    "露营",
    "钓鱼",
    "跑步",
    "瑜伽",
    "网球",
    "羽毛球",
    "电竞",
    "手游",
    "基金",
    "保险",
    "育儿",
    "留学",
    "考研",
    "求职",
    "二手车",
    "新能源",
    "手机",
    "耳机",
    "咖啡",
    "茶叶",
];

const COPIES: [(&str, &str); 10] = [
    (
        "篮球决赛今晚开打",
        "湖人对阵勇士总决赛精彩直播，体育迷不要错过",
    ),
    ("周末美食探店", "本地人气餐厅榜单出炉，咖啡烘焙限时优惠"),
    ("五一旅游攻略", "露营钓鱼好去处，摄影爱好者必看"),
    ("基金理财课", "股票基金保险一站式讲解，理财新手入门"),
    ("新游上线", "电竞战队同款手游，游戏玩家速来"),
    ("新能源汽车发布会", "二手车置换补贴，汽车爱好者关注"),
    ("考研留学讲座", "教育专家在线答疑，求职考研两不误"),
    ("春季健身计划", "跑步瑜伽网球羽毛球，养生健身一起来"),
    ("新款手机耳机", "数码科技新品首发，手机耳机限时折扣"),
    ("萌宠育儿指南", "宠物母婴家居好物推荐"),
];

fn main() {
    let mut rng = StdRng::seed_from_u64(7);
    let t = Instant::now();
    let tags: Vec<RoaringBitmap> = TAGS
        .iter()
        .map(|_| (0..DEVICES).filter(|_| rng.gen_bool(0.1)).collect())
        .collect();
    let eligible: RoaringBitmap = (0..DEVICES).collect();
    let members: u64 = tags.iter().map(RoaringBitmap::len).sum();
    println!(
        "input: {DEVICES} eligible, {} tags, {members} tag memberships, built in {:.2?}",
        TAGS.len(),
        t.elapsed()
    );

    let t = Instant::now();
    let _ = roster_crowd::features("预热分词词典");
    println!("jieba dictionary load: {:.2?}", t.elapsed());

    let inputs = Inputs {
        tags: TAGS.iter().copied().zip(tags.iter()).collect(),
        opens: Vec::new(),
        seen: Vec::new(),
        eligible: &eligible,
    };
    let copies: Vec<PushCopy<'_>> = COPIES
        .iter()
        .map(|&(topic, content)| PushCopy { topic, content })
        .collect();
    for overlap in [true, false] {
        let params = Params {
            package_num: 100_000,
            overlap,
        };
        let t = Instant::now();
        let crowds = match pick(&copies, &inputs, &params, &()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        };
        let elapsed = t.elapsed();
        let sizes: Vec<u64> = crowds.iter().map(|c| c.members.len()).collect();
        let scored: Vec<u64> = crowds.iter().map(|c| c.scored).collect();
        let bytes = working_bytes(eligible.max().unwrap_or(0), &params);
        println!(
            "pick overlap={overlap}: {elapsed:.2?}, working_bytes {bytes} ({:.1} MiB)",
            bytes as f64 / (1024.0 * 1024.0)
        );
        println!("  crowd sizes {sizes:?}");
        println!("  scored {scored:?}");
    }
}
