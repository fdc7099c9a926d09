//! One app's bitmaps and the selector evaluation over them.

use std::borrow::Cow;
use std::collections::HashMap;

use roaring::{MultiOps, RoaringBitmap};
use roster_core::audience::RegionLevel;
use roster_core::rules::Mutation;
use roster_core::{AudienceQuery, DeviceFacts, PhoneType, Selector};

/// The bitmaps of one app. Every bitmap holds device ordinals.
#[derive(Debug, Default, Clone)]
pub struct AppIndex {
    all: RoaringBitmap,
    phone: [RoaringBitmap; 2],
    province: HashMap<Box<str>, RoaringBitmap>,
    city: HashMap<Box<str>, RoaringBitmap>,
    exact_region: HashMap<Box<str>, RoaringBitmap>,
    tags: HashMap<Box<str>, RoaringBitmap>,
    brand: HashMap<Box<str>, RoaringBitmap>,
    blacklisted: RoaringBitmap,
    notification_off: RoaringBitmap,
    has_alias: RoaringBitmap,
    props: crate::props::Props,
}

fn phone_slot(p: PhoneType) -> usize {
    match p {
        PhoneType::Android => 0,
        PhoneType::Ios => 1,
    }
}

/// Adds `ord`; appending (the rebuild's case) is the fast path.
fn add(b: &mut RoaringBitmap, ord: u32) {
    if !b.push(ord) {
        b.insert(ord);
    }
}

fn add_keyed(map: &mut HashMap<Box<str>, RoaringBitmap>, key: &str, ord: u32) {
    match map.get_mut(key) {
        Some(b) => add(b, ord),
        None => {
            let mut b = RoaringBitmap::new();
            b.insert(ord);
            map.insert(key.into(), b);
        }
    }
}

fn remove_keyed(map: &mut HashMap<Box<str>, RoaringBitmap>, key: &str, ord: u32) {
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

/// An intermediate result: a set, or the complement of one.
enum Term<'a> {
    Pos(Cow<'a, RoaringBitmap>),
    Neg(Cow<'a, RoaringBitmap>),
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

static EMPTY: std::sync::LazyLock<RoaringBitmap> = std::sync::LazyLock::new(RoaringBitmap::new);

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
    pub fn all_devices(&self) -> &RoaringBitmap {
        &self.all
    }

    /// Blacklisted devices.
    pub fn blacklisted_devices(&self) -> &RoaringBitmap {
        &self.blacklisted
    }

    /// Each tag with its devices, in no particular order.
    pub fn tag_bitmaps(&self) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
        self.tags.iter().map(|(k, v)| (&**k, v))
    }

    /// Each brand (`unknown` for none) with its devices, in no particular order.
    pub fn brand_bitmaps(&self) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
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
    pub fn with_alias(&self) -> &RoaringBitmap {
        &self.has_alias
    }

    /// Approximate heap bytes: bitmap payloads plus key strings and map slots.
    pub fn heap_bytes(&self) -> usize {
        let bitmaps = |m: &HashMap<Box<str>, RoaringBitmap>| -> usize {
            m.iter()
                .map(|(k, b)| {
                    b.serialized_size()
                        + k.len()
                        + std::mem::size_of::<(Box<str>, RoaringBitmap)>()
                        + 8
                })
                .sum()
        };
        self.all.serialized_size()
            + self
                .phone
                .iter()
                .map(RoaringBitmap::serialized_size)
                .sum::<usize>()
            + bitmaps(&self.province)
            + bitmaps(&self.city)
            + bitmaps(&self.exact_region)
            + bitmaps(&self.tags)
            + bitmaps(&self.brand)
            + self.blacklisted.serialized_size()
            + self.notification_off.serialized_size()
            + self.has_alias.serialized_size()
            + self.props.heap_bytes()
    }

    fn leaf(&self, sel: &Selector) -> &RoaringBitmap {
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

    fn eval<'a>(&'a self, node: &'a Node) -> Term<'a> {
        match node {
            Node::All(true) => Term::Pos(Cow::Borrowed(&self.all)),
            Node::All(false) => Term::Pos(Cow::Borrowed(&EMPTY)),
            Node::Leaf(Selector::Property(p)) => Term::Pos(Cow::Owned(crate::props::materialise(
                self.props.leaf(p, &self.all, &self.notification_off),
                &self.all,
            ))),
            Node::Leaf(sel) => Term::Pos(Cow::Borrowed(self.leaf(sel))),
            // A crowd's members were taken when it succeeded: devices deleted since
            // are no longer in `all`.
            Node::Ords(b) => Term::Pos(Cow::Owned(b & &self.all)),
            Node::Not(x) => match self.eval(x) {
                Term::Pos(b) => Term::Neg(b),
                Term::Neg(b) => Term::Pos(b),
            },
            Node::And(_) => {
                let (mut pos, mut neg) = (Vec::new(), Vec::new());
                self.collect(node, false, &mut pos, &mut neg);
                if pos.is_empty() {
                    Term::Neg(union(neg))
                } else {
                    Term::Pos(subtract(intersect(pos), neg))
                }
            }
            Node::Or(xs) => {
                let (pos, neg) = self.split(xs);
                if neg.is_empty() {
                    Term::Pos(union(pos))
                } else {
                    // ~A ∪ ~B ∪ P = ~((A ∩ B) − P)
                    Term::Neg(subtract(intersect(neg), pos))
                }
            }
        }
    }

    /// The operands of a conjunction, flattened: nested `and`s, `not`s, and `not` over
    /// `or` (¬(a ∨ b) = ¬a ∧ ¬b) all become plain positive and negative operands, so
    /// nothing is materialised that the final count does not need.
    fn collect<'a>(
        &'a self,
        node: &'a Node,
        negate: bool,
        pos: &mut Vec<Cow<'a, RoaringBitmap>>,
        neg: &mut Vec<Cow<'a, RoaringBitmap>>,
    ) {
        match node {
            Node::And(xs) if !negate => xs.iter().for_each(|x| self.collect(x, false, pos, neg)),
            Node::Or(xs) if negate => xs.iter().for_each(|x| self.collect(x, true, pos, neg)),
            Node::Not(x) => self.collect(x, !negate, pos, neg),
            Node::Leaf(Selector::Property(p)) if !negate => {
                let parts = self.props.leaf(p, &self.all, &self.notification_off);
                pos.extend(parts.pos);
                neg.extend(parts.neg);
            }
            other => match (self.eval(other), negate) {
                (Term::Pos(b), false) | (Term::Neg(b), true) => pos.push(b),
                (Term::Neg(b), false) | (Term::Pos(b), true) => neg.push(b),
            },
        }
    }

    fn split<'a>(
        &'a self,
        xs: &'a [Node],
    ) -> (Vec<Cow<'a, RoaringBitmap>>, Vec<Cow<'a, RoaringBitmap>>) {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for x in xs {
            match self.eval(x) {
                Term::Pos(b) => pos.push(b),
                Term::Neg(b) => neg.push(b),
            }
        }
        (pos, neg)
    }

    fn exclusions<'a>(&'a self, q: &AudienceQuery, neg: &mut Vec<Cow<'a, RoaringBitmap>>) {
        if q.exclude_blacklisted {
            neg.push(Cow::Borrowed(&self.blacklisted));
        }
        if q.exclude_notification_off {
            neg.push(Cow::Borrowed(&self.notification_off));
        }
    }

    fn top<'a>(
        &'a self,
        root: &'a Node,
        q: &AudienceQuery,
    ) -> (Vec<Cow<'a, RoaringBitmap>>, Vec<Cow<'a, RoaringBitmap>>) {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        self.collect(root, false, &mut pos, &mut neg);
        self.exclusions(q, &mut neg);
        if pos.is_empty() {
            pos.push(Cow::Borrowed(&self.all));
        }
        (pos, neg)
    }

    /// Counts the audience, doing the last step with count-only operations.
    pub fn count(&self, root: &Node, q: &AudienceQuery) -> u64 {
        // What costs is materialising large sets (allocating and filling containers);
        // counting (`intersection_len`, `difference_len`) and changing a set in place
        // are cheap. So: count-only where possible, else one accumulator changed in place.
        let (mut pos, mut neg) = self.top(root, q);
        pos.sort_by_key(|b| b.len());
        neg.sort_by_key(|b| b.len());
        let smallest = pos.first().map_or(0, |b| b.len());
        // At most two positives and a few small exclusions (the blacklist, say):
        // |P1 ∩ P2 ∖ ∪N| = Σ over subsets S of N of (−1)^|S| · |P1 ∩ P2 ∩ ∩S|, where
        // every term is a count and only intersections with a small exclusion are built.
        if pos.len() <= 2
            && neg.len() <= 3
            && neg.iter().all(|n| n.len().saturating_mul(4) <= smallest)
        {
            let pos_refs: Vec<&RoaringBitmap> = pos.iter().map(|b| &**b).collect();
            let mut total: i64 = 0;
            for mask in 0u32..(1 << neg.len()) {
                let mut xs = pos_refs.clone();
                xs.extend(
                    (0..neg.len())
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| &*neg[i]),
                );
                let term = count_refs(xs) as i64;
                total += if mask.count_ones() % 2 == 0 {
                    term
                } else {
                    -term
                };
            }
            return total.max(0) as u64;
        }
        // The accumulator: a positive that is already materialised (an `or`'s union) if
        // there is one, so nothing more is allocated; else a copy of the smallest.
        let at = pos
            .iter()
            .position(|b| matches!(b, Cow::Owned(_)))
            .unwrap_or(0);
        let first = pos.remove(at);
        if neg.is_empty() {
            return match pos.len() {
                0 => first.len(),
                1 => first.intersection_len(&pos[0]),
                _ => {
                    let last = pos.pop().unwrap_or(Cow::Borrowed(&EMPTY));
                    let mut acc = first.into_owned();
                    pos.iter().for_each(|b| acc &= &**b);
                    acc.intersection_len(&last)
                }
            };
        }
        let mut acc = first.into_owned();
        for b in &pos {
            if acc.is_empty() {
                return 0;
            }
            acc &= &**b;
        }
        let last = neg.pop().unwrap_or(Cow::Borrowed(&EMPTY));
        neg.iter().for_each(|n| acc -= &**n);
        acc.difference_len(&last)
    }

    /// The audience as a bitmap of ordinals.
    pub fn members(&self, root: &Node, q: &AudienceQuery) -> RoaringBitmap {
        let (pos, neg) = self.top(root, q);
        subtract(intersect(pos), neg).into_owned()
    }
}

/// |∩xs|: the two smallest are intersected, the rest in place, and the largest only
/// counted (`intersection_len`).
fn count_refs(mut xs: Vec<&RoaringBitmap>) -> u64 {
    xs.sort_by_key(|b| b.len());
    let Some(last) = xs.pop() else {
        return 0;
    };
    let mut it = xs.into_iter();
    let Some(first) = it.next() else {
        return last.len();
    };
    let Some(second) = it.next() else {
        return first.intersection_len(last);
    };
    let mut acc = first & second;
    for b in it {
        if acc.is_empty() {
            return 0;
        }
        acc &= b;
    }
    acc.intersection_len(last)
}

/// Intersection, smallest first; borrows when there is one operand. The first step
/// builds a new (small) bitmap from two borrowed ones; later steps work in place, so a
/// large operand is never cloned.
fn intersect(mut xs: Vec<Cow<'_, RoaringBitmap>>) -> Cow<'_, RoaringBitmap> {
    xs.sort_by_key(|b| b.len());
    let mut it = xs.into_iter();
    let Some(first) = it.next() else {
        return Cow::Borrowed(&EMPTY);
    };
    let Some(second) = it.next() else {
        return first;
    };
    let mut acc = &*first & &*second;
    for b in it {
        if acc.is_empty() {
            break;
        }
        acc &= &*b;
    }
    Cow::Owned(acc)
}

/// `acc` minus every bitmap in `xs`, without cloning `acc` or building their union.
fn subtract<'a>(
    acc: Cow<'a, RoaringBitmap>,
    xs: Vec<Cow<'_, RoaringBitmap>>,
) -> Cow<'a, RoaringBitmap> {
    let mut it = xs.into_iter();
    let Some(first) = it.next() else {
        return acc;
    };
    let mut out = &*acc - &*first;
    for b in it {
        if out.is_empty() {
            break;
        }
        out -= &*b;
    }
    Cow::Owned(out)
}

/// Union; borrows when there is one operand.
fn union(mut xs: Vec<Cow<'_, RoaringBitmap>>) -> Cow<'_, RoaringBitmap> {
    match xs.len() {
        0 => Cow::Borrowed(&EMPTY),
        1 => xs.pop().unwrap_or(Cow::Borrowed(&EMPTY)),
        _ => Cow::Owned(xs.iter().map(|b| &**b).union()),
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
