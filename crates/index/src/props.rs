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

use roster_core::property::{Field, Num, Operand, Property, Seen, TEXT_FIELDS};
use roster_core::DeviceFacts;

use crate::bits::Bits;
use crate::column::Column;
use crate::eval::Expr;

static NONE: Bits = Bits::new();

/// Devices by distinct value, and the devices having any value.
#[derive(Debug, Clone)]
pub(crate) struct Values<K> {
    has: Bits,
    by: HashMap<K, Bits>,
}

impl<K> Default for Values<K> {
    fn default() -> Self {
        Values {
            has: Bits::new(),
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
        self.has.heap_bytes()
            + self.by.capacity() * (std::mem::size_of::<(K, Bits)>() + 1)
            + self
                .by
                .iter()
                .map(|(k, b)| b.heap_bytes() + key_bytes(k))
                .sum::<usize>()
    }

    /// The devices whose value `test` accepts: the union of the accepted values, or,
    /// when the others hold fewer devices, "has a value" minus each of them. Nothing is
    /// materialised; the evaluator streams either form.
    fn select<'a>(&'a self, test: impl Fn(&K) -> bool, every: &'a Bits) -> Expr<'a> {
        let (mut yes, mut no) = (Vec::new(), Vec::new());
        let (mut yes_n, mut no_n) = (0u64, 0u64);
        for (k, b) in &self.by {
            if test(k) {
                yes_n += b.len();
                yes.push(Expr::set(b));
            } else {
                no_n += b.len();
                no.push(Expr::set(b));
            }
        }
        if no.is_empty() {
            Expr::set(&self.has)
        } else if yes.is_empty() {
            Expr::set(&NONE)
        } else if yes_n <= no_n {
            Expr::or(yes)
        } else {
            Expr::and(vec![Expr::set(&self.has)], no, every)
        }
    }

    fn append(&mut self, later: Values<K>) {
        self.has.append(later.has);
        crate::bitmaps::append_keyed(&mut self.by, later.by);
    }

    fn each_set_mut(&mut self, f: &mut dyn FnMut(&mut Bits)) {
        f(&mut self.has);
        self.by.values_mut().for_each(f);
    }
}

/// One free-form property key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Custom {
    /// Devices with the key (any non-null value).
    has: Bits,
    text: Values<Box<str>>,
    number: Values<Num>,
}

/// The property structures of one app.
#[derive(Debug, Clone, Default)]
pub(crate) struct Props {
    text: [Values<Box<str>>; 5],
    custom: HashMap<Box<str>, Custom>,
    /// `created_at` and `last_login_time` by ordinal, bit-packed.
    times: [Column; 2],
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
        // The time columns keep the removed ordinal's values: nothing reads an ordinal
        // that is not in `all`.
    }

    pub(crate) fn set_time(&mut self, slot: usize, ord: u32, at: i64) {
        self.times[slot].set(ord, at);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let text = |v: &Values<Box<str>>| v.heap_bytes(|k| k.len());
        self.text.iter().map(text).sum::<usize>()
            + self
                .custom
                .iter()
                .map(|(k, c)| {
                    k.len() + c.has.heap_bytes() + text(&c.text) + c.number.heap_bytes(|_| 8)
                })
                .sum::<usize>()
            + self.times.iter().map(Column::heap_bytes).sum::<usize>()
    }

    pub(crate) fn each_set_mut(&mut self, f: &mut dyn FnMut(&mut Bits)) {
        self.text.iter_mut().for_each(|v| v.each_set_mut(f));
        for c in self.custom.values_mut() {
            f(&mut c.has);
            c.text.each_set_mut(f);
            c.number.each_set_mut(f);
        }
    }

    /// Moves `later` (a part of a build holding later blocks) into `self`.
    pub(crate) fn append(&mut self, later: Props) {
        for (mine, theirs) in self.text.iter_mut().zip(later.text) {
            mine.append(theirs);
        }
        for (key, c) in later.custom {
            let mine = self.custom.entry(key).or_default();
            mine.has.append(c.has);
            mine.text.append(c.text);
            mine.number.append(c.number);
        }
        for (mine, theirs) in self.times.iter_mut().zip(later.times) {
            mine.append(theirs);
        }
    }

    /// Heap bytes of the time columns alone.
    pub(crate) fn time_bytes(&self) -> usize {
        self.times.iter().map(Column::heap_bytes).sum()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.times.iter_mut().for_each(Column::shrink_to_fit);
    }

    /// The devices of `all` matching `p`. `off`: notifications off.
    pub(crate) fn leaf<'a>(&'a self, p: &Property, all: &'a Bits, off: &'a Bits) -> Expr<'a> {
        if let Some(slot) = text_slot(&p.field) {
            let values = &self.text[slot];
            return match p.operand {
                Operand::Exists(true) => Expr::set(&values.has),
                Operand::Exists(false) => {
                    Expr::and(vec![Expr::set(all)], vec![Expr::set(&values.has)], all)
                }
                _ => values.select(|v| p.matches(Some(Seen::Text(v))), all),
            };
        }
        if let Some(slot) = time_slot(&p.field) {
            let column = &self.times[slot];
            let hits = all
                .iter()
                .filter(|o| p.matches(Some(Seen::Number(column.get(*o) as f64))));
            return Expr::Set(Cow::Owned(hits.collect()));
        }
        match &p.field {
            Field::NotificationSwitch => {
                let on = p.matches(Some(Seen::Bool(true)));
                let off_too = p.matches(Some(Seen::Bool(false)));
                match (on, off_too) {
                    (true, true) => Expr::set(all),
                    (true, false) => Expr::and(vec![Expr::set(all)], vec![Expr::set(off)], all),
                    (false, true) => Expr::set(off),
                    (false, false) => Expr::set(&NONE),
                }
            }
            Field::Custom(key) => {
                let Some(c) = self.custom.get(key.as_str()) else {
                    // No device has the key: only `exists: false` matches (everyone).
                    return Expr::set(if p.matches(None) { all } else { &NONE });
                };
                match &p.operand {
                    Operand::Exists(true) => Expr::set(&c.has),
                    Operand::Exists(false) => {
                        Expr::and(vec![Expr::set(all)], vec![Expr::set(&c.has)], all)
                    }
                    // Values of one type never match a leaf of the other: the union of
                    // both sides, one of which is usually empty.
                    Operand::One(_) | Operand::List(_) => Expr::or(vec![
                        c.text.select(|v| p.matches(Some(Seen::Text(v))), all),
                        c.number.select(|n| p.matches(Some(Seen::Number(n.0))), all),
                    ]),
                }
            }
            // `login_freq` is resolved through the store before it reaches the index.
            _ => Expr::set(&NONE),
        }
    }
}
