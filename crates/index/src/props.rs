//! The index of device property leaves (`roster_core::property`).
//!
//! Text fields (`app_version`, `os`, `package_name`, `phone_model`, `client_app_id`) and
//! free-form properties keep one bitmap per distinct value (numbers of free-form
//! properties too) plus one of the devices that have the field. A leaf tests each
//! distinct value once with [`Property::matches`] (so the index and the brute-force
//! evaluator share one rule) and answers with the union of the matching values, or,
//! when the values that do not match hold fewer devices, with "has the field" minus
//! each of them, so an `app_version >= x` inside an `and` stays a few bitmap
//! operations. The times (`created_at`, `last_login_time`) have too many distinct
//! values for bitmaps: they are kept as per-ordinal columns and a leaf on them scans
//! the column. `notification_switch` uses the index's notifications-off bitmap;
//! `login_freq` depends on the time of the query and is resolved through the store.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

use roaring::RoaringBitmap;
use roster_core::property::{Field, Num, Operand, Property, Seen, TEXT_FIELDS};
use roster_core::DeviceFacts;

/// Devices by distinct value, and the devices having any value.
#[derive(Debug, Clone)]
pub(crate) struct Values<K> {
    has: RoaringBitmap,
    by: HashMap<K, RoaringBitmap>,
}

impl<K> Default for Values<K> {
    fn default() -> Self {
        Values {
            has: RoaringBitmap::new(),
            by: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq> Values<K> {
    fn add(&mut self, key: K, ord: u32) {
        self.has.insert(ord);
        self.by.entry(key).or_default().insert(ord);
    }

    fn remove(&mut self, key: &K, ord: u32) {
        self.has.remove(ord);
        if let Some(b) = self.by.get_mut(key) {
            b.remove(ord);
            if b.is_empty() {
                self.by.remove(key);
            }
        }
    }

    fn heap_bytes(&self, key_bytes: impl Fn(&K) -> usize) -> usize {
        self.has.serialized_size()
            + self
                .by
                .iter()
                .map(|(k, b)| b.serialized_size() + key_bytes(k) + 48)
                .sum::<usize>()
    }

    /// A conjunction (positives, negatives) for the devices whose value `test` accepts.
    fn select<'a>(&'a self, test: impl Fn(&K) -> bool) -> Parts<'a> {
        let (mut yes, mut no) = (Vec::new(), Vec::new());
        let (mut yes_n, mut no_n) = (0u64, 0u64);
        for (k, b) in &self.by {
            if test(k) {
                yes_n += b.len();
                yes.push(b);
            } else {
                no_n += b.len();
                no.push(b);
            }
        }
        if no.is_empty() {
            return Parts::pos(Cow::Borrowed(&self.has));
        }
        if yes_n <= no_n {
            let union = match yes.len() {
                0 => RoaringBitmap::new(),
                1 => yes[0].clone(),
                _ => roaring::MultiOps::union(yes),
            };
            Parts::pos(Cow::Owned(union))
        } else {
            Parts {
                pos: vec![Cow::Borrowed(&self.has)],
                neg: no.into_iter().map(Cow::Borrowed).collect(),
            }
        }
    }
}

/// One free-form property key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Custom {
    /// Devices with the key (any non-null value).
    has: RoaringBitmap,
    text: Values<Box<str>>,
    number: Values<Num>,
}

/// The property structures of one app.
#[derive(Debug, Clone, Default)]
pub(crate) struct Props {
    text: [Values<Box<str>>; 5],
    custom: HashMap<Box<str>, Custom>,
    /// `created_at` and `last_login_time` by ordinal.
    times: [Vec<i64>; 2],
}

/// Devices matching `pos` all and none of `neg` (no `pos`: every device).
pub(crate) struct Parts<'a> {
    pub pos: Vec<Cow<'a, RoaringBitmap>>,
    pub neg: Vec<Cow<'a, RoaringBitmap>>,
}

impl<'a> Parts<'a> {
    fn pos(b: Cow<'a, RoaringBitmap>) -> Self {
        Parts {
            pos: vec![b],
            neg: Vec::new(),
        }
    }

    fn none() -> Self {
        Parts::pos(Cow::Owned(RoaringBitmap::new()))
    }
}

fn text_slot(f: &Field) -> Option<usize> {
    TEXT_FIELDS.iter().position(|t| t == f)
}

fn time_slot(f: &Field) -> Option<usize> {
    match f {
        Field::CreatedAt => Some(0),
        Field::LastLoginTime => Some(1),
        _ => None,
    }
}

fn texts<'a>(f: &DeviceFacts<'a>) -> [Option<&'a str>; 5] {
    [
        f.app_version,
        f.os,
        f.package_name,
        f.phone_model,
        f.client_app_id,
    ]
}

impl Props {
    pub(crate) fn add(&mut self, ord: u32, f: &DeviceFacts<'_>) {
        for (slot, v) in texts(f).into_iter().enumerate() {
            if let Some(v) = v {
                self.text[slot].add(v.into(), ord);
            }
        }
        for (key, v) in f.properties.into_iter().flatten() {
            let Some(seen) = roster_core::property::seen_json(Some(v)) else {
                continue;
            };
            let c = self.custom.entry(key.as_str().into()).or_default();
            c.has.insert(ord);
            match seen {
                Seen::Text(s) => c.text.add(s.into(), ord),
                Seen::Number(n) => c.number.add(Num(n), ord),
                Seen::Bool(_) | Seen::Other => {}
            }
        }
        self.set_time(0, ord, f.create_time);
        self.set_time(1, ord, f.last_login_time);
    }

    pub(crate) fn remove(&mut self, ord: u32, f: &DeviceFacts<'_>) {
        for (slot, v) in texts(f).into_iter().enumerate() {
            if let Some(v) = v {
                self.text[slot].remove(&v.into(), ord);
            }
        }
        for (key, v) in f.properties.into_iter().flatten() {
            let Some(seen) = roster_core::property::seen_json(Some(v)) else {
                continue;
            };
            let Some(c) = self.custom.get_mut(key.as_str()) else {
                continue;
            };
            c.has.remove(ord);
            match seen {
                Seen::Text(s) => c.text.remove(&s.into(), ord),
                Seen::Number(n) => c.number.remove(&Num(n), ord),
                Seen::Bool(_) | Seen::Other => {}
            }
            if c.has.is_empty() {
                self.custom.remove(key.as_str());
            }
        }
        for column in &mut self.times {
            if let Some(t) = column.get_mut(ord as usize) {
                *t = i64::MIN;
            }
        }
    }

    pub(crate) fn set_time(&mut self, slot: usize, ord: u32, at: i64) {
        let column = &mut self.times[slot];
        let i = ord as usize;
        if column.len() <= i {
            column.resize(i + 1, i64::MIN);
        }
        column[i] = at;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let text = |v: &Values<Box<str>>| v.heap_bytes(|k| k.len());
        self.text.iter().map(text).sum::<usize>()
            + self
                .custom
                .iter()
                .map(|(k, c)| {
                    k.len() + c.has.serialized_size() + text(&c.text) + c.number.heap_bytes(|_| 8)
                })
                .sum::<usize>()
            + self.times.iter().map(|c| c.capacity() * 8).sum::<usize>()
    }

    /// The devices of `all` matching `p`, as a conjunction. `off`: notifications off.
    pub(crate) fn leaf<'a>(
        &'a self,
        p: &Property,
        all: &'a RoaringBitmap,
        off: &'a RoaringBitmap,
    ) -> Parts<'a> {
        if let Some(slot) = text_slot(&p.field) {
            let values = &self.text[slot];
            return match p.operand {
                Operand::Exists(true) => Parts::pos(Cow::Borrowed(&values.has)),
                Operand::Exists(false) => Parts {
                    pos: vec![Cow::Borrowed(all)],
                    neg: vec![Cow::Borrowed(&values.has)],
                },
                _ => values.select(|v| p.matches(Some(Seen::Text(v)))),
            };
        }
        if let Some(slot) = time_slot(&p.field) {
            let column = &self.times[slot];
            let hits = all.iter().filter(|o| {
                let t = column.get(*o as usize).copied().unwrap_or(i64::MIN);
                p.matches(Some(Seen::Number(t as f64)))
            });
            return Parts::pos(Cow::Owned(
                RoaringBitmap::from_sorted_iter(hits).unwrap_or_default(),
            ));
        }
        match &p.field {
            Field::NotificationSwitch => {
                let on = p.matches(Some(Seen::Bool(true)));
                let off_too = p.matches(Some(Seen::Bool(false)));
                match (on, off_too) {
                    (true, true) => Parts::pos(Cow::Borrowed(all)),
                    (true, false) => Parts {
                        pos: vec![Cow::Borrowed(all)],
                        neg: vec![Cow::Borrowed(off)],
                    },
                    (false, true) => Parts::pos(Cow::Borrowed(off)),
                    (false, false) => Parts::none(),
                }
            }
            Field::Custom(key) => {
                let Some(c) = self.custom.get(key.as_str()) else {
                    // No device has the key: only `exists: false` matches (everyone).
                    return if p.matches(None) {
                        Parts::pos(Cow::Borrowed(all))
                    } else {
                        Parts::none()
                    };
                };
                self.custom_leaf(p, c, all)
            }
            // `login_freq` is resolved through the store before it reaches the index.
            _ => Parts::none(),
        }
    }

    fn custom_leaf<'a>(&self, p: &Property, c: &'a Custom, all: &'a RoaringBitmap) -> Parts<'a> {
        match &p.operand {
            Operand::Exists(true) => Parts::pos(Cow::Borrowed(&c.has)),
            Operand::Exists(false) => Parts {
                pos: vec![Cow::Borrowed(all)],
                neg: vec![Cow::Borrowed(&c.has)],
            },
            Operand::One(_) | Operand::List(_) => {
                let text = c.text.select(|v| p.matches(Some(Seen::Text(v))));
                let number = c.number.select(|n| p.matches(Some(Seen::Number(n.0))));
                // Values of one type never match a leaf of the other, so one side is
                // usually empty; otherwise the union of both.
                let (t, n) = (materialise(text, all), materialise(number, all));
                match (t.is_empty(), n.is_empty()) {
                    (_, true) => Parts::pos(Cow::Owned(t)),
                    (true, false) => Parts::pos(Cow::Owned(n)),
                    (false, false) => Parts::pos(Cow::Owned(t | n)),
                }
            }
        }
    }
}

/// A conjunction as one bitmap.
pub(crate) fn materialise(p: Parts<'_>, all: &RoaringBitmap) -> RoaringBitmap {
    let mut pos = p.pos.into_iter();
    let mut acc = match pos.next() {
        Some(first) => first.into_owned(),
        None => all.clone(),
    };
    for b in pos {
        acc &= &*b;
    }
    for b in p.neg {
        acc -= &*b;
    }
    acc
}
