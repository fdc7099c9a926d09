//! [`Bits`]: a compressed set of device ordinals laid out as roaring lays it out — one
//! chunk per block of 65,536 ordinals, a sorted array of the low 16 bits while the
//! block holds at most 4,096 of them, a 1,024-word bitset above — but with its chunks
//! open to the evaluator (`crate::eval`), which streams a whole query block by block
//! through one 8 KiB buffer instead of materialising intermediate sets. roaring-rs keeps
//! its containers private, which is why the index has its own set type; it converts to
//! and from [`RoaringBitmap`] at the crate's edges.
//!
//! A set with few members per block (a rare tag over a hundred million devices has a
//! handful in each of 1,500 blocks) would spend most of its memory on per-chunk headers
//! and allocations; such a set is kept *packed* instead: every block's sorted low halves
//! in one vector, with each block's end offset — six bytes a block instead of about
//! seventy. The evaluator sees either layout through the same [`View`] of a block.

use roaring::RoaringBitmap;

/// 64-bit words in a dense chunk.
pub(crate) const WORDS: usize = 1024;
/// Above this many members a chunk is a bitset (8 KiB, the size of 4,096 `u16`s).
const ARRAY_MAX: usize = 4096;
/// Below this many members a bitset chunk turns back into an array (hysteresis, so a
/// block hovering around 4,096 members does not convert on every write).
const DENSE_MIN: u32 = 2048;

/// One block's words.
pub(crate) type Words = [u64; WORDS];

/// The members of one block of 65,536 ordinals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Sorted low halves.
    Array(Vec<u16>),
    /// A bitset and its number of set bits.
    Dense(Box<Words>, u32),
}

impl Chunk {
    pub(crate) fn len(&self) -> u32 {
        match self {
            Chunk::Array(a) => a.len() as u32,
            Chunk::Dense(_, n) => *n,
        }
    }

    fn insert(&mut self, low: u16) -> bool {
        match self {
            Chunk::Array(a) => {
                let Err(at) = a.binary_search(&low) else {
                    return false;
                };
                a.insert(at, low);
                if a.len() > ARRAY_MAX {
                    let mut w: Box<Words> = Box::new([0; WORDS]);
                    set_all(&mut w, a);
                    *self = Chunk::Dense(w, a.len() as u32);
                }
                true
            }
            Chunk::Dense(w, n) => {
                let (i, bit) = (usize::from(low >> 6), 1u64 << (low & 63));
                if w[i] & bit != 0 {
                    return false;
                }
                w[i] |= bit;
                *n += 1;
                true
            }
        }
    }

    fn remove(&mut self, low: u16) -> bool {
        match self {
            Chunk::Array(a) => match a.binary_search(&low) {
                Ok(at) => {
                    a.remove(at);
                    true
                }
                Err(_) => false,
            },
            Chunk::Dense(w, n) => {
                let (i, bit) = (usize::from(low >> 6), 1u64 << (low & 63));
                if w[i] & bit == 0 {
                    return false;
                }
                w[i] &= !bit;
                *n -= 1;
                if *n < DENSE_MIN {
                    *self = Chunk::Array(lows(w).collect());
                }
                true
            }
        }
    }

    /// The chunk for a block given as words (`count` of them set).
    pub(crate) fn of_words(w: &Words, count: u32) -> Chunk {
        if count as usize <= ARRAY_MAX {
            let mut a = Vec::with_capacity(count as usize);
            a.extend(lows(w));
            Chunk::Array(a)
        } else {
            Chunk::Dense(Box::new(*w), count)
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Chunk::Array(a) => a.capacity() * 2,
            Chunk::Dense(..) => WORDS * 8,
        }
    }
}

/// One block of a set as the evaluator reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum View<'a> {
    /// Sorted low halves.
    Array(&'a [u16]),
    /// A bitset and its number of members.
    Dense(&'a Words, u32),
}

impl View<'_> {
    pub(crate) fn contains(&self, low: u16) -> bool {
        match self {
            View::Array(a) => a.binary_search(&low).is_ok(),
            View::Dense(w, _) => w[usize::from(low >> 6)] & (1 << (low & 63)) != 0,
        }
    }
}

impl Chunk {
    fn view(&self) -> View<'_> {
        match self {
            Chunk::Array(a) => View::Array(a),
            Chunk::Dense(w, n) => View::Dense(w, *n),
        }
    }
}

/// Sets every low half of `a` in `w`.
pub(crate) fn set_all(w: &mut Words, a: &[u16]) {
    // Neighbours in a sorted array usually share a word, and setting both in turn makes
    // each store wait for the one before. Four streams a quarter of the array apart
    // touch different words, so their stores overlap.
    let set = |w: &mut Words, low: u16| w[usize::from(low >> 6)] |= 1 << (low & 63);
    let q = a.len() / 4;
    let (s0, rest) = a.split_at(q);
    let (s1, rest) = rest.split_at(q);
    let (s2, s3) = rest.split_at(q);
    for (((&x0, &x1), &x2), &x3) in s0.iter().zip(s1).zip(s2).zip(s3) {
        set(w, x0);
        set(w, x1);
        set(w, x2);
        set(w, x3);
    }
    for &low in &s3[q..] {
        set(w, low);
    }
}

/// The set bits of `w`, ascending.
pub(crate) fn lows(w: &Words) -> impl Iterator<Item = u16> + '_ {
    w.iter().enumerate().flat_map(|(i, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                (i as u16) << 6 | bit as u16
            })
        })
    })
}

/// A set of `u32` ordinals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    keys: Vec<u16>,
    body: Body,
    len: u64,
}

impl Default for Bits {
    fn default() -> Self {
        Bits::new()
    }
}

/// The two layouts of a set's blocks (one entry per key).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    /// A chunk per block.
    Chunks(Vec<Chunk>),
    /// Every block's low halves in `lows`; block `i` ends at `ends[i]`.
    Packed { ends: Vec<u32>, lows: Vec<u16> },
}

/// A packed set turns into chunks above this many members per block on average...
const PACKED_MAX: u64 = 192;
/// ...and a chunked set is packed (when a build is done) at or below this many.
const PACK_AT: u64 = 96;

fn split(v: u32) -> (u16, u16) {
    ((v >> 16) as u16, v as u16)
}

impl Bits {
    /// The empty set.
    pub const fn new() -> Self {
        Bits {
            keys: Vec::new(),
            body: Body::Packed {
                ends: Vec::new(),
                lows: Vec::new(),
            },
            len: 0,
        }
    }

    /// Members.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `v` is a member.
    pub fn contains(&self, v: u32) -> bool {
        let (key, low) = split(v);
        self.view(key).is_some_and(|c| c.contains(low))
    }

    /// The chunks layout (a packed set is unpacked).
    fn chunks_mut(&mut self) -> &mut Vec<Chunk> {
        if let Body::Packed { ends, lows } = &mut self.body {
            let mut chunks = Vec::with_capacity(ends.len());
            let mut start = 0;
            for &end in ends.iter() {
                let block = &lows[start..end as usize];
                chunks.push(if block.len() <= ARRAY_MAX {
                    Chunk::Array(block.to_vec())
                } else {
                    let mut w: Box<Words> = Box::new([0; WORDS]);
                    set_all(&mut w, block);
                    Chunk::Dense(w, block.len() as u32)
                });
                start = end as usize;
            }
            self.body = Body::Chunks(chunks);
        }
        match &mut self.body {
            Body::Chunks(c) => c,
            Body::Packed { .. } => unreachable!("unpacked above"),
        }
    }

    /// Adds `v`; whether it was new. Appending past the largest member is the fast path.
    pub fn insert(&mut self, v: u32) -> bool {
        let (key, low) = split(v);
        let added = match &mut self.body {
            Body::Packed { ends, lows } => {
                let added = packed_insert(&mut self.keys, ends, lows, key, low);
                if added && self.len + 1 > self.keys.len() as u64 * PACKED_MAX {
                    self.len += 1;
                    self.chunks_mut();
                    return true;
                }
                added
            }
            Body::Chunks(chunks) => chunked_insert(&mut self.keys, chunks, key, low),
        };
        self.len += u64::from(added);
        added
    }

    /// Removes `v`; whether it was a member.
    pub fn remove(&mut self, v: u32) -> bool {
        let (key, low) = split(v);
        let Ok(at) = self.keys.binary_search(&key) else {
            return false;
        };
        let removed = match &mut self.body {
            Body::Chunks(chunks) => {
                let removed = chunks[at].remove(low);
                if removed && chunks[at].len() == 0 {
                    self.keys.remove(at);
                    chunks.remove(at);
                }
                removed
            }
            Body::Packed { ends, lows } => {
                let start = if at == 0 { 0 } else { ends[at - 1] as usize };
                let end = ends[at] as usize;
                match lows[start..end].binary_search(&low) {
                    Ok(i) => {
                        lows.remove(start + i);
                        ends[at..].iter_mut().for_each(|e| *e -= 1);
                        if end - start == 1 {
                            self.keys.remove(at);
                            ends.remove(at);
                        }
                        true
                    }
                    Err(_) => false,
                }
            }
        };
        self.len -= u64::from(removed);
        removed
    }

    /// Block `key` of the set, if it has members there.
    pub(crate) fn view(&self, key: u16) -> Option<View<'_>> {
        let at = self.keys.binary_search(&key).ok()?;
        Some(self.view_at(at))
    }

    fn view_at(&self, at: usize) -> View<'_> {
        match &self.body {
            Body::Chunks(c) => c[at].view(),
            Body::Packed { ends, lows } => {
                let start = if at == 0 { 0 } else { ends[at - 1] as usize };
                View::Array(&lows[start..ends[at] as usize])
            }
        }
    }

    /// Every block, ascending.
    fn views(&self) -> impl Iterator<Item = (u16, View<'_>)> + '_ {
        self.keys
            .iter()
            .enumerate()
            .map(|(at, &key)| (key, self.view_at(at)))
    }

    /// Block keys with members, ascending.
    pub(crate) fn keys(&self) -> &[u16] {
        &self.keys
    }

    /// Appends block `key`'s members given as words; `key` must exceed every key held.
    pub(crate) fn push_block(&mut self, key: u16, w: &Words) {
        let count: u32 = w.iter().map(|x| x.count_ones()).sum();
        if count == 0 {
            return;
        }
        debug_assert!(self.keys.last().is_none_or(|&k| k < key));
        self.chunks_mut().push(Chunk::of_words(w, count));
        self.keys.push(key);
        self.len += u64::from(count);
    }

    /// Appends block `key`'s members given as sorted low halves.
    pub(crate) fn push_lows(&mut self, key: u16, lows: &[u16]) {
        if lows.is_empty() {
            return;
        }
        debug_assert!(self.keys.last().is_none_or(|&k| k < key));
        let chunk = if lows.len() <= ARRAY_MAX {
            Chunk::Array(lows.to_vec())
        } else {
            let mut w: Box<Words> = Box::new([0; WORDS]);
            set_all(&mut w, lows);
            Chunk::Dense(w, lows.len() as u32)
        };
        self.chunks_mut().push(chunk);
        self.keys.push(key);
        self.len += lows.len() as u64;
    }

    /// Moves every member of `later` into `self`; each of them must lie in a block past
    /// every block of `self` (the parts of a build split by block).
    pub fn append(&mut self, mut later: Bits) {
        if later.is_empty() {
            return;
        }
        assert!(
            self.keys.last() < later.keys.first(),
            "appended sets must follow in block order"
        );
        let theirs = std::mem::take(later.chunks_mut());
        self.chunks_mut().extend(theirs);
        self.keys.extend(later.keys);
        self.len += later.len;
    }

    /// Members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.views().flat_map(|(key, view)| {
            let high = u32::from(key) << 16;
            let lows: Box<dyn Iterator<Item = u16> + '_> = match view {
                View::Array(a) => Box::new(a.iter().copied()),
                View::Dense(w, _) => Box::new(lows(w)),
            };
            lows.map(move |low| high | u32::from(low))
        })
    }

    /// Heap bytes held (allocations as allocated, not as filled).
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 2
            + match &self.body {
                Body::Chunks(c) => {
                    c.capacity() * std::mem::size_of::<Chunk>()
                        + c.iter().map(Chunk::heap_bytes).sum::<usize>()
                }
                Body::Packed { ends, lows } => ends.capacity() * 4 + lows.capacity() * 2,
            }
    }

    /// Bytes a read of every member's storage touches (what the query floor reads).
    pub fn payload_bytes(&self) -> usize {
        self.keys.len() * 2
            + match &self.body {
                Body::Chunks(c) => c
                    .iter()
                    .map(|c| match c {
                        Chunk::Array(a) => a.len() * 2,
                        Chunk::Dense(..) => WORDS * 8,
                    })
                    .sum::<usize>(),
                Body::Packed { ends, lows } => ends.len() * 4 + lows.len() * 2,
            }
    }

    /// [`Bits::payload_bytes`] estimated in constant time: two bytes a member, at most
    /// a bitset's 8 KiB a block.
    pub(crate) fn approx_bytes(&self) -> usize {
        let blocks = self.keys.len();
        (self.len as usize * 2).min(blocks * WORDS * 8) + blocks * 2
    }

    /// One read pass over every byte of the set's storage: the floor a query touching
    /// this set cannot beat. Returns a checksum so that the pass cannot be optimised out.
    pub fn read_pass(&self) -> u64 {
        let mut sum = 0u64;
        for (_, view) in self.views() {
            match view {
                View::Array(a) => {
                    sum = a.iter().fold(sum, |s, &x| s.wrapping_add(u64::from(x)));
                }
                View::Dense(w, _) => {
                    // Four lanes, so the pass runs at memory speed, not at the speed of
                    // one dependent add chain.
                    let mut lanes = [0u64; 4];
                    for q in w.chunks_exact(4) {
                        for (l, x) in lanes.iter_mut().zip(q) {
                            *l ^= x;
                        }
                    }
                    sum = lanes.iter().fold(sum, |s, l| s.wrapping_add(*l));
                }
            }
        }
        sum
    }

    /// Frees spare capacity (after a build), packing a set with few members per block.
    pub fn shrink_to_fit(&mut self) {
        if matches!(self.body, Body::Chunks(_)) && self.len <= self.keys.len() as u64 * PACK_AT {
            let mut ends = Vec::with_capacity(self.keys.len());
            let mut lows = Vec::with_capacity(self.len as usize);
            for (_, view) in self.views() {
                match view {
                    View::Array(a) => lows.extend_from_slice(a),
                    View::Dense(w, _) => lows.extend(self::lows(w)),
                }
                ends.push(lows.len() as u32);
            }
            self.body = Body::Packed { ends, lows };
        }
        self.keys.shrink_to_fit();
        match &mut self.body {
            Body::Chunks(chunks) => {
                chunks.shrink_to_fit();
                for c in chunks {
                    if let Chunk::Array(a) = c {
                        a.shrink_to_fit();
                    }
                }
            }
            Body::Packed { ends, lows } => {
                ends.shrink_to_fit();
                lows.shrink_to_fit();
            }
        }
    }

    /// The same members as a [`RoaringBitmap`].
    pub fn to_roaring(&self) -> RoaringBitmap {
        RoaringBitmap::from_sorted_iter(self.iter()).unwrap_or_default()
    }

    /// `self ∩ other` as a new set.
    pub fn and(&self, other: &Bits) -> Bits {
        let mut out = Bits::new();
        let mut buf: Box<Words> = Box::new([0; WORDS]);
        for (key, a) in self.views() {
            let Some(b) = other.view(key) else {
                continue;
            };
            match (a, b) {
                (View::Dense(x, _), View::Dense(y, _)) => {
                    for ((o, x), y) in buf.iter_mut().zip(x.iter()).zip(y.iter()) {
                        *o = x & y;
                    }
                    out.push_block(key, &buf);
                }
                (View::Array(xs), other) | (other, View::Array(xs)) => {
                    let kept: Vec<u16> =
                        xs.iter().copied().filter(|&l| other.contains(l)).collect();
                    out.push_lows(key, &kept);
                }
            }
        }
        out
    }
}

/// Inserts into a packed set; whether `low` was new in block `key`.
fn packed_insert(
    keys: &mut Vec<u16>,
    ends: &mut Vec<u32>,
    lows: &mut Vec<u16>,
    key: u16,
    low: u16,
) -> bool {
    // Appending: the rebuild's case.
    match keys.last() {
        Some(&last) if last == key && lows.last().is_some_and(|&l| l < low) => {
            lows.push(low);
            if let Some(e) = ends.last_mut() {
                *e += 1;
            }
            return true;
        }
        Some(&last) if last >= key => {}
        _ => {
            keys.push(key);
            lows.push(low);
            ends.push(lows.len() as u32);
            return true;
        }
    }
    match keys.binary_search(&key) {
        Ok(at) => {
            let start = if at == 0 { 0 } else { ends[at - 1] as usize };
            let end = ends[at] as usize;
            match lows[start..end].binary_search(&low) {
                Ok(_) => false,
                Err(i) => {
                    lows.insert(start + i, low);
                    ends[at..].iter_mut().for_each(|e| *e += 1);
                    true
                }
            }
        }
        Err(at) => {
            let start = if at == 0 { 0 } else { ends[at - 1] };
            keys.insert(at, key);
            lows.insert(start as usize, low);
            ends.insert(at, start);
            ends[at..].iter_mut().for_each(|e| *e += 1);
            true
        }
    }
}

/// Inserts into a chunked set; whether `low` was new in block `key`.
fn chunked_insert(keys: &mut Vec<u16>, chunks: &mut Vec<Chunk>, key: u16, low: u16) -> bool {
    let at = match keys.last() {
        Some(&last) if last == key => keys.len() - 1,
        Some(&last) if last > key => match keys.binary_search(&key) {
            Ok(at) => at,
            Err(at) => {
                keys.insert(at, key);
                chunks.insert(at, Chunk::Array(Vec::new()));
                at
            }
        },
        _ => {
            keys.push(key);
            chunks.push(Chunk::Array(Vec::new()));
            keys.len() - 1
        }
    };
    match &mut chunks[at] {
        Chunk::Array(a) if a.last().is_none_or(|&l| l < low) && a.len() < ARRAY_MAX => {
            a.push(low);
            true
        }
        c => c.insert(low),
    }
}

impl From<&RoaringBitmap> for Bits {
    fn from(r: &RoaringBitmap) -> Self {
        r.iter().collect()
    }
}

impl FromIterator<u32> for Bits {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut b = Bits::new();
        for v in iter {
            b.insert(v);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Random inserts and removals across array and dense chunks (both conversions)
    /// agree with a `BTreeSet`.
    #[test]
    fn agrees_with_a_btreeset() {
        let mut next = crate::xorshift(7);
        let mut bits = Bits::new();
        let mut want = BTreeSet::new();
        let mut packed_seen = false;
        for round in 0..60_000 {
            packed_seen |= matches!(bits.body, Body::Packed { .. }) && bits.len() > 100;
            // Block 0 fills up to dense then drains; block 3 stays sparse.
            let v = if next().is_multiple_of(4) {
                ((3 + next() % 40) << 16) as u32 | (next() % 65_536) as u32
            } else {
                (next() % 12_000) as u32
            };
            let removing = round > 30_000 && !next().is_multiple_of(3);
            if removing {
                assert_eq!(bits.remove(v), want.remove(&v));
            } else {
                assert_eq!(bits.insert(v), want.insert(v));
            }
            if round % 5_000 == 0 {
                // Packs the set when it is sparse enough; later writes go to that layout.
                bits.shrink_to_fit();
                assert_eq!(bits.len(), want.len() as u64);
                assert!(bits.iter().eq(want.iter().copied()));
            }
        }
        assert!(packed_seen, "the packed layout was exercised");
        assert!(bits.iter().eq(want.iter().copied()));
        assert_eq!(bits.to_roaring().len(), want.len() as u64);
        for v in [0, 1, 11_999, 12_000, 3 << 16, u32::MAX] {
            assert_eq!(bits.contains(v), want.contains(&v), "{v}");
        }
    }

    #[test]
    fn appending_builds_dense_chunks_and_and_agrees() {
        let a: Bits = (0..200_000u32).filter(|v| v % 3 == 0).collect();
        let b: Bits = (0..200_000u32)
            .filter(|v| v % 5 == 0 || *v > 150_000)
            .collect();
        assert!(matches!(a.view(0), Some(View::Dense(..))));
        let want: Vec<u32> = a.iter().filter(|v| b.contains(*v)).collect();
        assert!(a.and(&b).iter().eq(want));
        assert!(a.payload_bytes() > 0 && a.heap_bytes() >= a.payload_bytes());
        // The constant-time estimate: exact for arrays alone, close for a mix.
        let dense: Bits = (0..196_608u32).filter(|v| v % 3 == 0).collect();
        assert_eq!(dense.approx_bytes(), dense.payload_bytes());
        assert!(
            a.approx_bytes() < a.payload_bytes() * 2,
            "{}",
            a.approx_bytes()
        );
        let sparse: Bits = (0..200_000u32).step_by(97).collect();
        assert_eq!(sparse.approx_bytes(), sparse.payload_bytes());
    }
}
