//! Smart crowds (Getui 文案圈人): a plan of push copies, each of which becomes a crowd of
//! the devices most likely to care about it. This module holds the plan's shape rules,
//! the statuses and how a plan's status follows from its sub-tasks, and the filters a
//! plan puts on devices before any scoring. The scoring itself is `roster-crowd`.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Longest plan name, in characters.
pub const NAME_MAX: usize = 10;
/// Most copies (sub-tasks) in one plan.
pub const TASKS_MAX: usize = 10;
/// Longest topic, in characters.
pub const TOPIC_MAX: usize = 20;
/// Longest content, in characters.
pub const CONTENT_MAX: usize = 50;
/// Fewest Chinese characters a topic and a content must each have.
pub const CHINESE_MIN: usize = 2;
/// Smallest upper bound of a crowd.
pub const PACKAGE_MIN: u64 = 1_000;
/// Largest upper bound of a crowd.
pub const PACKAGE_MAX: u64 = 5_000_000;
/// Longest activity window, in days.
pub const RANGE_MAX: u32 = 90;
/// Most sub-task ids one `task/list` call asks about.
pub const LIST_IDS_MAX: usize = 10;
/// Most plans `model/list` answers.
pub const LIST_PLANS_MAX: usize = 10;
/// Longest opened text a device event records, in characters.
pub const OPEN_TEXT_MAX: usize = 1_000;

/// A brand group of `brand_list`: the five named vendors, and `other` for every other
/// brand (`iphone` and devices without a brand, `unknown`, included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrandGroup {
    /// Huawei.
    Hw,
    /// Xiaomi.
    Xm,
    /// OPPO.
    Op,
    /// vivo.
    Vv,
    /// Meizu.
    Mz,
    /// Every other brand.
    Other,
}

impl BrandGroup {
    /// The five named vendors.
    pub const NAMED: [BrandGroup; 5] = [Self::Hw, Self::Xm, Self::Op, Self::Vv, Self::Mz];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hw => "hw",
            Self::Xm => "xm",
            Self::Op => "op",
            Self::Vv => "vv",
            Self::Mz => "mz",
            Self::Other => "other",
        }
    }

    /// Parses a wire value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMED
            .into_iter()
            .chain([Self::Other])
            .find(|b| b.as_str() == s)
    }

    /// The group of a device whose brand, as Getui reports it, is `brand`.
    pub fn of(brand: &str) -> Self {
        Self::NAMED
            .into_iter()
            .find(|b| b.as_str() == brand)
            .unwrap_or(Self::Other)
    }
}

/// Whether a crowd wants devices active within the window, or the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveType {
    /// `1`: logged in within the last `active_range` days.
    Active,
    /// `-1`: not logged in within them.
    Inactive,
}

impl ActiveType {
    /// Parses the wire number.
    pub fn parse(n: i64) -> Option<Self> {
        match n {
            1 => Some(Self::Active),
            -1 => Some(Self::Inactive),
            _ => None,
        }
    }

    /// The wire number.
    pub fn code(self) -> i64 {
        match self {
            Self::Active => 1,
            Self::Inactive => -1,
        }
    }
}

/// One piece of push copy: a sub-task of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrowdCopy {
    /// Title.
    pub topic: String,
    /// Body.
    pub content: String,
}

/// Whether `c` is a Chinese character (a CJK unified ideograph, any extension block).
pub fn is_chinese(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2EBEF}'
        | '\u{30000}'..='\u{3134F}')
}

/// Checks one copy text: 1..=`max` characters, at least two Chinese ones, no white
/// space of any kind (Unicode `White_Space`: tabs, line breaks, U+3000 included).
fn copy_text(text: &str, field: &str, max: usize) -> Result<String, Error> {
    if text.is_empty() {
        return Err(Error::empty(field));
    }
    if text.chars().count() > max {
        return Err(Error::over_limit(field));
    }
    if text.chars().any(char::is_whitespace)
        || text.chars().filter(|c| is_chinese(*c)).count() < CHINESE_MIN
    {
        return Err(Error::invalid(field));
    }
    Ok(text.to_owned())
}

impl CrowdCopy {
    /// Validates the copy of task `i` (errors name `tasks[i].topic` / `.content`).
    pub fn new(i: usize, topic: &str, content: &str) -> Result<Self, Error> {
        Ok(CrowdCopy {
            topic: copy_text(topic, &format!("tasks[{i}].topic"), TOPIC_MAX)?,
            content: copy_text(content, &format!("tasks[{i}].content"), CONTENT_MAX)?,
        })
    }

    /// Topic and content as one text (how a copy weighs in a corpus, or is matched).
    pub fn text(&self) -> String {
        format!("{}{}", self.topic, self.content)
    }
}

/// A validated plan, as `smart_crowd/create` asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// Display name, 1–10 characters.
    pub name: String,
    /// 1–10 distinct copies.
    pub tasks: Vec<CrowdCopy>,
    /// Brand groups, as given (order kept, repeats dropped).
    pub brands: Vec<BrandGroup>,
    /// Upper bound of each crowd.
    pub package_num: u64,
    /// Activity window, days.
    pub active_range: u32,
    /// Inside or outside the window.
    pub active_type: ActiveType,
    /// Whether a device may be in several crowds of the plan.
    pub overlap: bool,
}

impl PlanSpec {
    /// Checks every rule of the document on already-typed fields.
    pub fn new(
        name: &str,
        tasks: Vec<CrowdCopy>,
        brands: Vec<BrandGroup>,
        package_num: i64,
        active_range: i64,
        active_type: i64,
        overlap: bool,
    ) -> Result<Self, Error> {
        if name.is_empty() {
            return Err(Error::empty("name"));
        }
        if name.chars().count() > NAME_MAX {
            return Err(Error::over_limit("name"));
        }
        if tasks.is_empty() {
            return Err(Error::empty("tasks"));
        }
        if tasks.len() > TASKS_MAX {
            return Err(Error::over_limit("tasks"));
        }
        for (i, t) in tasks.iter().enumerate() {
            if tasks[..i].contains(t) {
                return Err(Error::duplicate("tasks"));
            }
        }
        if brands.is_empty() {
            return Err(Error::empty("brand_list"));
        }
        let mut unique = Vec::with_capacity(brands.len());
        for b in brands {
            if !unique.contains(&b) {
                unique.push(b);
            }
        }
        let package_num = u64::try_from(package_num)
            .ok()
            .filter(|n| (PACKAGE_MIN..=PACKAGE_MAX).contains(n))
            .ok_or_else(|| Error::invalid("package_num"))?;
        let active_range = u32::try_from(active_range)
            .ok()
            .filter(|n| (1..=RANGE_MAX).contains(n))
            .ok_or_else(|| Error::invalid("active_range"))?;
        let active_type =
            ActiveType::parse(active_type).ok_or_else(|| Error::invalid("active_type"))?;
        Ok(PlanSpec {
            name: name.to_owned(),
            tasks,
            brands: unique,
            package_num,
            active_range,
            active_type,
            overlap,
        })
    }

    /// `brand_list` as `model/list` shows it: the groups joined by commas.
    pub fn brand_list(&self) -> String {
        join_brands(&self.brands)
    }

    /// Whether a device last logged in at `last_login_time` passes the activity filter
    /// at `now` (all ms): active means within the last `active_range` days, inclusive.
    pub fn activity_matches(&self, last_login_time: i64, now: i64) -> bool {
        let active = last_login_time >= self.active_since(now);
        active == (self.active_type == ActiveType::Active)
    }

    /// The earliest last-login time that counts as active at `now`.
    pub fn active_since(&self, now: i64) -> i64 {
        now.saturating_sub(i64::from(self.active_range) * crate::time::DAY_MS)
    }
}

/// Brand groups joined by commas, in order.
pub fn join_brands(brands: &[BrandGroup]) -> String {
    brands
        .iter()
        .map(|b| b.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a comma-joined brand list as stored; unknown entries are dropped.
pub fn split_brands(s: &str) -> Vec<BrandGroup> {
    s.split(',').filter_map(BrandGroup::parse).collect()
}

/// Where a sub-task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// `0`: not started.
    Waiting,
    /// `1`: being computed.
    Computing,
    /// `2`: ran longer than the job time limit.
    TimedOut,
    /// `3`: failed.
    Failed,
    /// `4`: succeeded; its crowd is a snapshot.
    Succeeded,
    /// `5`: stopped before it ended.
    Stopped,
}

impl Status {
    /// Every status, by code.
    pub const ALL: [Status; 6] = [
        Self::Waiting,
        Self::Computing,
        Self::TimedOut,
        Self::Failed,
        Self::Succeeded,
        Self::Stopped,
    ];

    /// The wire number.
    pub fn code(self) -> i64 {
        match self {
            Self::Waiting => 0,
            Self::Computing => 1,
            Self::TimedOut => 2,
            Self::Failed => 3,
            Self::Succeeded => 4,
            Self::Stopped => 5,
        }
    }

    /// Parses a wire number.
    pub fn from_code(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == n)
    }

    /// Whether nothing will change it any more.
    pub fn has_ended(self) -> bool {
        !matches!(self, Self::Waiting | Self::Computing)
    }

    /// Where a sub-task goes when it is stopped: waiting and computing ones stop, ended
    /// ones keep their status.
    pub fn stopped(self) -> Self {
        if self.has_ended() {
            self
        } else {
            Self::Stopped
        }
    }

    /// A plan's status from its sub-tasks': 0 while all wait; 1 while any waits or
    /// computes and another has started; once all have ended, 4 if all succeeded, else
    /// the first of 2, 3, 5 present among them.
    pub fn of_plan(subs: &[Status]) -> Self {
        if subs.iter().all(|s| *s == Self::Waiting) {
            return Self::Waiting;
        }
        if subs.iter().any(|s| !s.has_ended()) {
            return Self::Computing;
        }
        [Self::TimedOut, Self::Failed, Self::Stopped]
            .into_iter()
            .find(|s| subs.contains(s))
            .unwrap_or(Self::Succeeded)
    }
}

/// A new unguessable id for a plan or a sub-task: 22 random base-62 characters
/// (~131 bits), like the ids of the document.
pub fn new_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 22)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(t: &str, c: &str) -> CrowdCopy {
        CrowdCopy::new(0, t, c).expect("copy")
    }

    fn spec(tasks: Vec<CrowdCopy>) -> Result<PlanSpec, Error> {
        PlanSpec::new("文案圈人", tasks, vec![BrandGroup::Hw], 1000, 15, 1, false)
    }

    #[test]
    fn copy_rules() {
        assert!(CrowdCopy::new(0, "标题1", "内容1").is_ok());
        assert_eq!(
            CrowdCopy::new(2, "标", "内容").expect_err("refused"),
            Error::invalid("tasks[2].topic")
        );
        for bad in [
            "标题 1",
            "标题\t1",
            "标题\n",
            "标题\r",
            "标题\u{3000}x",
            "标\u{a0}题",
        ] {
            assert_eq!(
                CrowdCopy::new(0, bad, "内容").expect_err("refused"),
                Error::invalid("tasks[0].topic"),
                "{bad:?}"
            );
        }
        assert!(CrowdCopy::new(0, &"标".repeat(20), &"内".repeat(50)).is_ok());
        assert_eq!(
            CrowdCopy::new(0, &"标".repeat(21), "内容").expect_err("refused"),
            Error::over_limit("tasks[0].topic")
        );
        assert_eq!(
            CrowdCopy::new(1, "标题", &"内".repeat(51)).expect_err("refused"),
            Error::over_limit("tasks[1].content")
        );
        assert_eq!(
            CrowdCopy::new(0, "标题", "").expect_err("refused"),
            Error::empty("tasks[0].content")
        );
        assert_eq!(
            CrowdCopy::new(0, "ab", "内容x").expect_err("refused"),
            Error::invalid("tasks[0].topic")
        );
    }

    #[test]
    fn plan_rules() {
        assert!(spec(vec![copy("标题", "内容")]).is_ok());
        assert_eq!(spec(vec![]).expect_err("refused"), Error::empty("tasks"));
        let eleven = (0..11).map(|i| copy("标题", &format!("内容{i}"))).collect();
        assert_eq!(
            spec(eleven).expect_err("refused"),
            Error::over_limit("tasks")
        );
        assert_eq!(
            spec(vec![copy("标题", "内容"), copy("标题", "内容")]).expect_err("refused"),
            Error::duplicate("tasks")
        );
        assert!(spec(vec![copy("标题", "内容"), copy("标题", "内容二")]).is_ok());
        let p = |name: &str, brands: Vec<BrandGroup>, n: i64, r: i64, t: i64| {
            PlanSpec::new(name, vec![copy("标题", "内容")], brands, n, r, t, true)
        };
        let hw = || vec![BrandGroup::Hw];
        assert!(p(&"名".repeat(10), hw(), 1000, 1, 1).is_ok());
        assert_eq!(
            p(&"名".repeat(11), hw(), 1000, 1, 1).expect_err("refused"),
            Error::over_limit("name")
        );
        assert_eq!(
            p("", hw(), 1000, 1, 1).expect_err("refused"),
            Error::empty("name")
        );
        assert_eq!(
            p("n", vec![], 1000, 1, 1).expect_err("refused"),
            Error::empty("brand_list")
        );
        for n in [999, 5_000_001, -1] {
            assert_eq!(
                p("n", hw(), n, 1, 1).expect_err("refused"),
                Error::invalid("package_num")
            );
        }
        assert!(p("n", hw(), 5_000_000, 90, -1).is_ok());
        for r in [0, 91] {
            assert_eq!(
                p("n", hw(), 1000, r, 1).expect_err("refused"),
                Error::invalid("active_range")
            );
        }
        for t in [0, 2, -2] {
            assert_eq!(
                p("n", hw(), 1000, 1, t).expect_err("refused"),
                Error::invalid("active_type")
            );
        }
        let s = p(
            "n",
            vec![BrandGroup::Xm, BrandGroup::Vv, BrandGroup::Xm],
            1000,
            1,
            1,
        )
        .expect("plan");
        assert_eq!(s.brand_list(), "xm,vv");
        assert_eq!(
            split_brands("xm,vv,zz"),
            vec![BrandGroup::Xm, BrandGroup::Vv]
        );
    }

    #[test]
    fn brand_groups() {
        assert_eq!(BrandGroup::of("hw"), BrandGroup::Hw);
        assert_eq!(BrandGroup::of("iphone"), BrandGroup::Other);
        assert_eq!(BrandGroup::of("unknown"), BrandGroup::Other);
        assert_eq!(BrandGroup::parse("other"), Some(BrandGroup::Other));
        assert_eq!(BrandGroup::parse("huawei"), None);
    }

    #[test]
    fn activity_window() {
        let day = crate::time::DAY_MS;
        let now = 100 * day;
        let active = spec(vec![copy("标题", "内容")]).expect("plan");
        assert!(active.activity_matches(now - 15 * day, now));
        assert!(!active.activity_matches(now - 15 * day - 1, now));
        let inactive = PlanSpec {
            active_type: ActiveType::Inactive,
            ..active
        };
        assert!(inactive.activity_matches(now - 15 * day - 1, now));
        assert!(!inactive.activity_matches(now, now));
    }

    #[test]
    fn plan_status_follows_the_document() {
        use Status::*;
        assert_eq!(Status::of_plan(&[Waiting, Waiting]), Waiting);
        assert_eq!(Status::of_plan(&[Computing, Waiting]), Computing);
        assert_eq!(Status::of_plan(&[Succeeded, Waiting]), Computing);
        assert_eq!(Status::of_plan(&[Succeeded, Succeeded]), Succeeded);
        assert_eq!(Status::of_plan(&[Succeeded, Stopped, Failed]), Failed);
        assert_eq!(Status::of_plan(&[Stopped, TimedOut]), TimedOut);
        assert_eq!(Status::of_plan(&[Succeeded, Stopped]), Stopped);
        assert_eq!(Computing.stopped(), Stopped);
        assert_eq!(Succeeded.stopped(), Succeeded);
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::from_code(6), None);
    }

    #[test]
    fn ids_are_unguessable() {
        let a = new_id();
        assert_eq!(a.len(), 22);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, new_id());
    }
}
