//! One app's bitmaps and the selector evaluation over them.

use std::borrow::Cow;
use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::bits::Bits;
use crate::eval::{self, Expr};
use roster_core::audience::RegionLevel;
use roster_core::rules::Mutation;
use roster_core::{AudienceQuery, DeviceFacts, PhoneType, Selector};

/// The bitmaps of one app. Every bitmap holds device ordinals.
#[derive(Debug, Default, Clone)]
pub struct AppIndex {
    all: Bits,
    phone: [Bits; 2],
    province: HashMap<Box<str>, Bits>,
    city: HashMap<Box<str>, Bits>,
    exact_region: HashMap<Box<str>, Bits>,
    tags: HashMap<Box<str>, Bits>,
    brand: HashMap<Box<str>, Bits>,
    blacklisted: Bits,
    notification_off: Bits,
    has_alias: Bits,
    props: crate::props::Props,
}

fn phone_slot(p: PhoneType) -> usize {
    match p {
        PhoneType::Android => 0,
        PhoneType::Ios => 1,
    }
}

/// Adds `ord`; appending (the rebuild's case) is the fast path.
fn add(b: &mut Bits, ord: u32) {
    b.insert(ord);
}

fn add_keyed(map: &mut HashMap<Box<str>, Bits>, key: &str, ord: u32) {
    match map.get_mut(key) {
        Some(b) => add(b, ord),
        None => {
            let mut b = Bits::new();
            b.insert(ord);
            map.insert(key.into(), b);
        }
    }
}

/// Moves every set of `later` into the set of the same key in `map`.
pub(crate) fn append_keyed<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Bits>,
    later: HashMap<K, Bits>,
) {
    for (k, b) in later {
        map.entry(k).or_default().append(b);
    }
}

fn remove_keyed(map: &mut HashMap<Box<str>, Bits>, key: &str, ord: u32) {
    if let Some(b) = map.get_mut(key) {
        b.remove(ord);
        if b.is_empty() {
            map.remove(key);
        }
    }
}

/// The region keys a device region code is filed under: province, city, and, for codes
/// below city level, the exact code.
fn region_keys(region: &str) -> Option<(&str, &str, Option<&str>)> {
    if region.len() != 8 || !region.is_ascii() {
        return None;
    }
    let exact = (!region.ends_with("0000")).then_some(region);
    Some((&region[..2], &region[..4], exact))
}

/// A selector whose alias and cid leaves have been resolved to ordinals.
#[derive(Debug, Clone)]
pub enum Node {
    /// Every device, or none.
    All(bool),
    /// Intersection.
    And(Vec<Node>),
    /// Union.
    Or(Vec<Node>),
    /// Complement.
    Not(Box<Node>),
    /// An indexed leaf.
    Leaf(Selector),
    /// Devices resolved through the store (alias, cid lists).
    Ords(RoaringBitmap),
}

static EMPTY: Bits = Bits::new();

impl Node {
    /// The node of a selector that needs nothing from the store (no alias, cid, crowd
    /// or `login_freq` leaf, segments expanded); `None` otherwise.
    pub fn plain(sel: &Selector) -> Option<Node> {
        let all = |xs: &[Selector]| xs.iter().map(Node::plain).collect::<Option<Vec<_>>>();
        Some(match sel {
            Selector::All(b) => Node::All(*b),
            Selector::And(xs) => Node::And(all(xs)?),
            Selector::Or(xs) => Node::Or(all(xs)?),
            Selector::Not(x) => Node::Not(Box::new(Node::plain(x)?)),
            Selector::PhoneType(_)
            | Selector::Region(_)
            | Selector::Tag(_)
            | Selector::Brand(_) => Node::Leaf(sel.clone()),
            Selector::Property(p) if p.field != roster_core::property::Field::LoginFreq => {
                Node::Leaf(sel.clone())
            }
            _ => return None,
        })
    }
}

impl AppIndex {
    /// Files one device's facts under `ordinal` (its tags are added separately).
    pub fn add_device(&mut self, ordinal: u32, f: &DeviceFacts<'_>) {
        add(&mut self.all, ordinal);
        add(&mut self.phone[phone_slot(f.phone_type)], ordinal);
        if let Some((p, c, e)) = f.region.and_then(region_keys) {
            add_keyed(&mut self.province, p, ordinal);
            add_keyed(&mut self.city, c, ordinal);
            if let Some(e) = e {
                add_keyed(&mut self.exact_region, e, ordinal);
            }
        }
        add_keyed(&mut self.brand, f.brand, ordinal);
        if f.blacklisted {
            add(&mut self.blacklisted, ordinal);
        }
        if !f.notification_switch {
            add(&mut self.notification_off, ordinal);
        }
        if f.alias.is_some() {
            add(&mut self.has_alias, ordinal);
        }
        for t in f.tags {
            self.add_tag(ordinal, t.as_str());
        }
        self.props.add(ordinal, f);
    }

    /// Files one tag of a device.
    pub fn add_tag(&mut self, ordinal: u32, tag: &str) {
        add_keyed(&mut self.tags, tag, ordinal);
    }

    /// Removes everything `f` filed under `ordinal`.
    pub fn remove_device(&mut self, ordinal: u32, f: &DeviceFacts<'_>) {
        self.all.remove(ordinal);
        self.phone[phone_slot(f.phone_type)].remove(ordinal);
        if let Some((p, c, e)) = f.region.and_then(region_keys) {
            remove_keyed(&mut self.province, p, ordinal);
            remove_keyed(&mut self.city, c, ordinal);
            if let Some(e) = e {
                remove_keyed(&mut self.exact_region, e, ordinal);
            }
        }
        remove_keyed(&mut self.brand, f.brand, ordinal);
        self.blacklisted.remove(ordinal);
        self.notification_off.remove(ordinal);
        self.has_alias.remove(ordinal);
        for t in f.tags {
            remove_keyed(&mut self.tags, t.as_str(), ordinal);
        }
        self.props.remove(ordinal, f);
    }

    /// Follows one committed mutation.
    pub fn apply(&mut self, m: &Mutation) {
        match m {
            Mutation::DeviceInserted { ordinal, device } => {
                self.add_device(*ordinal, &device.facts());
            }
            Mutation::DeviceUpdated {
                ordinal,
                before,
                after,
            } => {
                self.remove_device(*ordinal, &before.facts());
                self.add_device(*ordinal, &after.facts());
            }
            Mutation::TagsSet {
                ordinal,
                tags,
                previous,
                ..
            } => {
                for t in previous {
                    remove_keyed(&mut self.tags, t.as_str(), *ordinal);
                }
                for t in tags {
                    self.add_tag(*ordinal, t.as_str());
                }
            }
            Mutation::TagAdded { ordinal, tag, .. } => self.add_tag(*ordinal, tag.as_str()),
            Mutation::TagRemoved { ordinal, tag, .. } => {
                remove_keyed(&mut self.tags, tag.as_str(), *ordinal);
            }
            Mutation::AliasBound { ordinal, .. } => add(&mut self.has_alias, *ordinal),
            Mutation::AliasUnbound { ordinal, .. } => {
                self.has_alias.remove(*ordinal);
            }
            Mutation::BlacklistSet { ordinal, on, .. } => {
                if *on {
                    add(&mut self.blacklisted, *ordinal);
                } else {
                    self.blacklisted.remove(*ordinal);
                }
            }
            Mutation::DeviceTokenBound {
                ordinal,
                brand,
                previous_brand,
                ..
            }
            | Mutation::DeviceTokenUnbound {
                ordinal,
                brand,
                previous_brand,
                ..
            } => {
                let name = |b: &Option<String>| b.clone().unwrap_or_else(|| "unknown".into());
                remove_keyed(&mut self.brand, &name(previous_brand), *ordinal);
                add_keyed(&mut self.brand, &name(brand), *ordinal);
            }
            Mutation::DeviceDeleted { ordinal, device } => {
                self.remove_device(*ordinal, &device.facts());
            }
            Mutation::LoggedIn {
                ordinal,
                last_login_time,
                ..
            } => self.props.set_time(1, *ordinal, *last_login_time),
            // Presence, login days, badges, users and app settings are not indexed.
            _ => {}
        }
    }

    /// Every device.
    pub fn all_devices(&self) -> &Bits {
        &self.all
    }

    /// Blacklisted devices.
    pub fn blacklisted_devices(&self) -> &Bits {
        &self.blacklisted
    }

    /// Each tag with its devices, in no particular order.
    pub fn tag_bitmaps(&self) -> impl Iterator<Item = (&str, &Bits)> {
        self.tags.iter().map(|(k, v)| (&**k, v))
    }

    /// Each brand (`unknown` for none) with its devices, in no particular order.
    pub fn brand_bitmaps(&self) -> impl Iterator<Item = (&str, &Bits)> {
        self.brand.iter().map(|(k, v)| (&**k, v))
    }

    /// Devices in the index.
    pub fn len(&self) -> u64 {
        self.all.len()
    }

    /// Whether the index holds no device.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Devices with a bound alias.
    pub fn with_alias(&self) -> &Bits {
        &self.has_alias
    }

    /// Every set, for a walk over all of them.
    fn each_set_mut(&mut self, f: &mut dyn FnMut(&mut Bits)) {
        f(&mut self.all);
        self.phone.iter_mut().for_each(&mut *f);
        for m in [
            &mut self.province,
            &mut self.city,
            &mut self.exact_region,
            &mut self.tags,
            &mut self.brand,
        ] {
            m.values_mut().for_each(&mut *f);
        }
        f(&mut self.blacklisted);
        f(&mut self.notification_off);
        f(&mut self.has_alias);
        self.props.each_set_mut(f);
    }

    /// Moves `later`, an index of devices whose ordinals all lie in blocks of 65,536
    /// past every ordinal of `self`, into `self`: the parts of a build split by block
    /// and built in parallel become one index.
    pub fn append(&mut self, later: AppIndex) {
        self.all.append(later.all);
        for (mine, theirs) in self.phone.iter_mut().zip(later.phone) {
            mine.append(theirs);
        }
        append_keyed(&mut self.province, later.province);
        append_keyed(&mut self.city, later.city);
        append_keyed(&mut self.exact_region, later.exact_region);
        append_keyed(&mut self.tags, later.tags);
        append_keyed(&mut self.brand, later.brand);
        self.blacklisted.append(later.blacklisted);
        self.notification_off.append(later.notification_off);
        self.has_alias.append(later.has_alias);
        self.props.append(later.props);
    }

    /// Heap bytes by part, for a look at where the memory goes.
    pub fn heap_breakdown(&self) -> Vec<(&'static str, usize)> {
        let keyed = |m: &HashMap<Box<str>, Bits>| m.values().map(Bits::heap_bytes).sum::<usize>();
        let props = self.props.heap_bytes();
        let times = self.props.time_bytes();
        vec![
            ("tags", keyed(&self.tags)),
            (
                "regions",
                keyed(&self.province) + keyed(&self.city) + keyed(&self.exact_region),
            ),
            ("brands", keyed(&self.brand)),
            (
                "flags (all, phone, blacklist, notifications, alias)",
                self.all.heap_bytes()
                    + self.phone.iter().map(Bits::heap_bytes).sum::<usize>()
                    + self.blacklisted.heap_bytes()
                    + self.notification_off.heap_bytes()
                    + self.has_alias.heap_bytes(),
            ),
            ("property values", props - times),
            ("time columns", times),
        ]
    }

    /// Frees the spare capacity a build leaves behind.
    pub fn shrink_to_fit(&mut self) {
        self.each_set_mut(&mut Bits::shrink_to_fit);
        self.props.shrink_to_fit();
    }

    /// Heap bytes: every set's allocations plus key strings and map slots.
    pub fn heap_bytes(&self) -> usize {
        let bitmaps = |m: &HashMap<Box<str>, Bits>| -> usize {
            m.capacity() * (std::mem::size_of::<(Box<str>, Bits)>() + 1)
                + m.iter()
                    .map(|(k, b)| b.heap_bytes() + k.len())
                    .sum::<usize>()
        };
        self.all.heap_bytes()
            + self.phone.iter().map(Bits::heap_bytes).sum::<usize>()
            + bitmaps(&self.province)
            + bitmaps(&self.city)
            + bitmaps(&self.exact_region)
            + bitmaps(&self.tags)
            + bitmaps(&self.brand)
            + self.blacklisted.heap_bytes()
            + self.notification_off.heap_bytes()
            + self.has_alias.heap_bytes()
            + self.props.heap_bytes()
    }

    fn leaf(&self, sel: &Selector) -> &Bits {
        match sel {
            Selector::PhoneType(p) => &self.phone[phone_slot(*p)],
            Selector::Region(r) => {
                let (map, key) = match r.level() {
                    RegionLevel::Province => (&self.province, r.province()),
                    RegionLevel::City => (&self.city, r.city()),
                    RegionLevel::Exact => (&self.exact_region, r.as_str()),
                };
                map.get(key).unwrap_or(&EMPTY)
            }
            Selector::Tag(t) => self.tags.get(t.as_str()).unwrap_or(&EMPTY),
            Selector::Brand(b) => self.brand.get(b.as_str()).unwrap_or(&EMPTY),
            _ => &EMPTY,
        }
    }

    /// `node` compiled over this index's sets.
    fn expr<'a>(&'a self, node: &'a Node) -> Expr<'a> {
        match node {
            Node::All(true) => Expr::set(&self.all),
            Node::All(false) => Expr::set(&EMPTY),
            Node::Leaf(Selector::Property(p)) => {
                self.props.leaf(p, &self.all, &self.notification_off)
            }
            Node::Leaf(sel) => Expr::set(self.leaf(sel)),
            // A crowd's members were taken when it succeeded: devices deleted since
            // are no longer in `all`.
            Node::Ords(b) => Expr::Set(Cow::Owned(Bits::from(b).and(&self.all))),
            Node::Or(xs) => Expr::or(xs.iter().map(|x| self.expr(x)).collect()),
            Node::Not(_) | Node::And(_) => {
                let (mut pos, mut neg) = (Vec::new(), Vec::new());
                self.collect(node, false, &mut pos, &mut neg);
                Expr::and(pos, neg, &self.all)
            }
        }
    }

    /// The operands of a conjunction, flattened: nested `and`s, `not`s, and `not` over
    /// `or` (¬(a ∨ b) = ¬a ∧ ¬b) all become plain positive and negative operands.
    fn collect<'a>(
        &'a self,
        node: &'a Node,
        negate: bool,
        pos: &mut Vec<Expr<'a>>,
        neg: &mut Vec<Expr<'a>>,
    ) {
        match node {
            Node::And(xs) if !negate => xs.iter().for_each(|x| self.collect(x, false, pos, neg)),
            Node::Or(xs) if negate => xs.iter().for_each(|x| self.collect(x, true, pos, neg)),
            Node::Not(x) => self.collect(x, !negate, pos, neg),
            other => match (self.expr(other), negate) {
                (Expr::And(p, n), false) => {
                    pos.extend(p);
                    neg.extend(n);
                }
                (e, false) => pos.push(e),
                (e, true) => neg.push(e),
            },
        }
    }

    /// The whole query: the selector and the query's exclusions.
    fn top<'a>(&'a self, root: &'a Node, q: &AudienceQuery) -> Expr<'a> {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        self.collect(root, false, &mut pos, &mut neg);
        if q.exclude_blacklisted {
            neg.push(Expr::set(&self.blacklisted));
        }
        if q.exclude_notification_off {
            neg.push(Expr::set(&self.notification_off));
        }
        Expr::and(pos, neg, &self.all)
    }

    /// Counts the audience, streaming it block by block (see `crate::eval`).
    pub fn count(&self, root: &Node, q: &AudienceQuery) -> u64 {
        eval::count(&self.top(root, q), &self.all)
    }

    /// [`AppIndex::count`] split into `parts` runs of blocks on as many threads (a count
    /// that reads enough is split across the cores on its own; this is for tests).
    pub fn count_in_parts(&self, root: &Node, q: &AudienceQuery, parts: usize) -> u64 {
        eval::count_in_parts(&self.top(root, q), &self.all, parts)
    }

    /// The audience as a bitmap of ordinals.
    pub fn members(&self, root: &Node, q: &AudienceQuery) -> RoaringBitmap {
        eval::members(&self.top(root, q), &self.all).to_roaring()
    }

    /// The query's floor: one read pass over every byte of every set the query reads
    /// (what [`AppIndex::count`] cannot beat). Returns (bytes read, a checksum that
    /// keeps the pass from being optimised away).
    pub fn floor(&self, root: &Node, q: &AudienceQuery) -> (usize, u64) {
        let (mut bytes, mut sum) = (0, 0u64);
        self.top(root, q).each_set(&mut |s| {
            bytes += s.payload_bytes();
            sum = sum.wrapping_add(s.read_pass());
        });
        (bytes, sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::{RegionCode, TagName};

    fn index() -> AppIndex {
        let mut ix = AppIndex::default();
        let tags: Vec<TagName> = (0..20)
            .map(|i| TagName::parse(format!("t{i}")).expect("tag"))
            .collect();
        for ord in 0..5_000u32 {
            let mine: Vec<TagName> = tags
                .iter()
                .enumerate()
                .filter(|(i, _)| (ord as usize * 7 + i * 13).is_multiple_of(i + 3))
                .map(|(_, t)| t.clone())
                .collect();
            let region = format!("{:02}010000", 11 + ord % 3);
            let f = DeviceFacts {
                phone_type: if ord % 4 == 0 {
                    PhoneType::Ios
                } else {
                    PhoneType::Android
                },
                region: Some(&region),
                tags: &mine,
                brand: if ord % 5 == 0 { "hw" } else { "xm" },
                blacklisted: ord % 17 == 0,
                notification_switch: ord % 11 != 0,
                ..DeviceFacts::bare("c", PhoneType::Android, "hw")
            };
            ix.add_device(ord, &f);
        }
        ix
    }

    fn tag(i: usize) -> Node {
        Node::Leaf(Selector::Tag(TagName::parse(format!("t{i}")).expect("tag")))
    }

    /// The count paths (count-only, inclusion–exclusion, in-place accumulator) agree
    /// with materialising the whole audience.
    #[test]
    fn count_paths_agree_with_members() {
        let ix = index();
        let android = Node::Leaf(Selector::PhoneType(PhoneType::Android));
        let hw = Node::Leaf(Selector::Brand("hw".into()));
        let region = Node::Leaf(Selector::Region(
            RegionCode::parse("12000000").expect("region"),
        ));
        let wide = Node::Or((0..12).map(tag).collect());
        let roots = [
            Node::And(vec![android.clone(), wide.clone()]),
            Node::And(vec![hw.clone(), wide.clone(), Node::Not(Box::new(tag(3)))]),
            Node::And(vec![wide.clone(), Node::Not(Box::new(region.clone()))]),
            Node::And(vec![
                android.clone(),
                region.clone(),
                Node::Not(Box::new(tag(1))),
            ]),
            Node::And(vec![tag(0), tag(1)]),
            Node::And(vec![
                tag(0),
                tag(1),
                tag(2),
                Node::Not(Box::new(hw.clone())),
            ]),
            Node::Or(vec![Node::And(vec![android.clone(), hw.clone()]), tag(5)]),
            Node::Not(Box::new(wide.clone())),
        ];
        for root in &roots {
            for (bl, nf) in [(false, false), (true, false), (true, true)] {
                let q = AudienceQuery {
                    selector: Selector::All(true),
                    exclude_blacklisted: bl,
                    exclude_notification_off: nf,
                };
                assert_eq!(
                    ix.count(root, &q),
                    ix.members(root, &q).len(),
                    "{root:?} bl={bl} nf={nf}"
                );
            }
        }
    }

    /// A province is one set of its own, maintained from the same mutations as its
    /// cities: its count reads that set (fewer bytes than its cities together) and
    /// follows a device moving out of it.
    #[test]
    fn a_province_count_reads_one_set() {
        let mut ix = AppIndex::default();
        let regions: Vec<String> = (0..3_000u32)
            .map(|o| format!("44{:02}0000", 1 + o % 3))
            .collect();
        for (ord, r) in regions.iter().enumerate() {
            ix.add_device(
                ord as u32,
                &DeviceFacts {
                    region: Some(r),
                    ..DeviceFacts::bare("c", PhoneType::Android, "hw")
                },
            );
        }
        ix.shrink_to_fit();
        let q = AudienceQuery {
            selector: Selector::All(true),
            exclude_blacklisted: false,
            exclude_notification_off: false,
        };
        let region = |r: &str| Node::Leaf(Selector::Region(RegionCode::parse(r).expect("region")));
        let province = region("44000000");
        let cities = Node::Or(vec![
            region("44010000"),
            region("44020000"),
            region("44030000"),
        ]);
        assert_eq!(ix.count(&province, &q), 3_000);
        assert_eq!(ix.count(&cities, &q), 3_000);
        let (one, _) = ix.floor(&province, &q);
        let (three, _) = ix.floor(&cities, &q);
        assert!(
            one < three,
            "province reads {one} bytes, its cities {three}"
        );
        assert!(one <= 2 * 3_000 + 16, "{one}");
        // Device 0 moves from 4401 to 3101.
        let before = DeviceFacts {
            region: Some(&regions[0]),
            ..DeviceFacts::bare("c", PhoneType::Android, "hw")
        };
        let after = DeviceFacts {
            region: Some("31010000"),
            ..DeviceFacts::bare("c", PhoneType::Android, "hw")
        };
        ix.remove_device(0, &before);
        ix.add_device(0, &after);
        assert_eq!(ix.count(&province, &q), 2_999);
        assert_eq!(ix.count(&region("31000000"), &q), 1);
    }

    /// A deleted device leaves every bitmap, and a list of ordinals taken before (a
    /// smart crowd) no longer counts it.
    #[test]
    fn a_deleted_device_is_counted_nowhere() {
        let tag = [TagName::parse("vip").expect("tag")];
        let facts = |cid| DeviceFacts {
            tags: &tag,
            app_version: Some("1.0"),
            ..DeviceFacts::bare(cid, PhoneType::Android, "hw")
        };
        let mut ix = AppIndex::default();
        ix.add_device(0, &facts("a"));
        ix.add_device(1, &facts("b"));
        let crowd = Node::Ords([0u32, 1].into_iter().collect());
        let q = AudienceQuery {
            selector: roster_core::Selector::All(true),
            exclude_blacklisted: false,
            exclude_notification_off: false,
        };
        assert_eq!(ix.count(&crowd, &q), 2);
        ix.remove_device(1, &facts("b"));
        assert_eq!(ix.count(&crowd, &q), 1);
        let vip = Node::Leaf(roster_core::Selector::Tag(tag[0].clone()));
        assert_eq!(ix.count(&vip, &q), 1);
        assert_eq!(ix.count(&Node::Not(Box::new(crowd)), &q), 0);
    }

    /// Property leaves on every field and op, alone, inside an `and` with a tag and
    /// negated: the index answers what `Selector::matches` answers, also after
    /// devices are removed.
    #[test]
    fn property_leaves_agree_with_brute_force() {
        use roster_core::property::{Field, Op, Property};
        let versions = ["1.9.2", "1.10.0", "2.0", "1.10", "10", "1.10.0-beta"];
        let tag0 = TagName::parse("t0").expect("tag");
        struct Dev {
            version: Option<String>,
            model: Option<String>,
            props: serde_json::Map<String, serde_json::Value>,
            tags: Vec<TagName>,
            created: i64,
        }
        let devs: Vec<Dev> = (0..600u32)
            .map(|ord| {
                let mut props = serde_json::Map::new();
                match ord % 5 {
                    0 => {}
                    1 => drop(props.insert("k".into(), (ord % 7).into())),
                    2 => drop(props.insert("k".into(), versions[ord as usize % 6].into())),
                    3 => drop(props.insert("k".into(), serde_json::Value::Null)),
                    _ => drop(props.insert("k".into(), true.into())),
                }
                Dev {
                    version: (ord % 7 != 0).then(|| versions[(ord as usize * 5) % 6].to_owned()),
                    model: (ord % 3 == 0).then(|| format!("m{}", ord % 4)),
                    props,
                    tags: if ord % 2 == 0 {
                        vec![tag0.clone()]
                    } else {
                        Vec::new()
                    },
                    created: i64::from(ord % 50),
                }
            })
            .collect();
        let facts = |ord: usize| {
            let d = &devs[ord];
            DeviceFacts {
                tags: &d.tags,
                notification_switch: !ord.is_multiple_of(4),
                app_version: d.version.as_deref(),
                phone_model: d.model.as_deref(),
                create_time: d.created,
                last_login_time: d.created + 1,
                properties: Some(&d.props),
                ..DeviceFacts::bare("c", PhoneType::Android, "hw")
            }
        };
        let mut ix = AppIndex::default();
        for ord in 0..devs.len() {
            ix.add_device(ord as u32, &facts(ord));
        }
        let values: Vec<serde_json::Value> = versions
            .iter()
            .map(|v| serde_json::json!(v))
            .chain([
                serde_json::json!("1."),
                serde_json::json!("m1"),
                serde_json::json!(3),
                serde_json::json!(25),
                serde_json::json!(true),
                serde_json::json!(false),
                serde_json::json!([]),
                serde_json::json!(["2.0", 3, "m2"]),
            ])
            .collect();
        let fields = [
            "app_version",
            "os",
            "phone_model",
            "notification_switch",
            "created_at",
            "last_login_time",
            "properties.k",
            "properties.none",
        ];
        let q = AudienceQuery {
            selector: Selector::All(true),
            exclude_blacklisted: false,
            exclude_notification_off: false,
        };
        let mut tried = 0;
        for removed in [false, true] {
            if removed {
                for ord in (0..devs.len()).step_by(3) {
                    ix.remove_device(ord as u32, &facts(ord));
                }
            }
            let alive = |ord: usize| !removed || !ord.is_multiple_of(3);
            for name in fields {
                for op in Op::ALL {
                    for v in &values {
                        let Ok(p) = Property::new(Field::parse(name).expect("field"), op, v) else {
                            continue;
                        };
                        tried += 1;
                        let leaf = Selector::Property(p);
                        let tagged = Selector::And(vec![Selector::Tag(tag0.clone()), leaf.clone()]);
                        let not = Selector::Not(Box::new(leaf.clone()));
                        for sel in [leaf, tagged, not] {
                            let node = to_node(&sel);
                            let want: Vec<u32> = (0..devs.len())
                                .filter(|o| alive(*o) && sel.matches(&facts(*o)))
                                .map(|o| o as u32)
                                .collect();
                            let got: Vec<u32> = ix.members(&node, &q).iter().collect();
                            assert_eq!(got, want, "{sel:?} removed={removed}");
                            assert_eq!(ix.count(&node, &q), want.len() as u64, "{sel:?}");
                        }
                    }
                }
            }
        }
        assert!(tried > 100, "{tried} leaves");
    }

    fn to_node(sel: &Selector) -> Node {
        match sel {
            Selector::And(xs) => Node::And(xs.iter().map(to_node).collect()),
            Selector::Not(x) => Node::Not(Box::new(to_node(x))),
            leaf => Node::Leaf(leaf.clone()),
        }
    }
}
