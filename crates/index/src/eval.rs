//! Block-streaming evaluation. A query is compiled to an [`Expr`] over borrowed sets,
//! then evaluated one block of 65,536 ordinals at a time: each operand's chunk for the
//! block is read once and combined into one 8 KiB buffer that stays in the CPU cache,
//! and the block's result is counted (or kept, for a member list) before the next block
//! starts. Nothing the size of a whole set is ever built, so an `or` over fifty tags
//! inside an `and` costs one read of the fifty tags' bytes — the floor.
//!
//! Per block: a conjunction whose smallest positive operand is a sorted array walks
//! that array and tests each member against the other operands (so a rare tag or a small
//! exclusion costs its own size, not the size of the large operands); otherwise it
//! copies its first bitset and ANDs / AND-NOTs the others into it word by word. A
//! conjunction missing from the block (one positive operand has no member there) is
//! skipped without reading the others.

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::bits::{set_all, Bits, View, Words, WORDS};

/// A compiled query.
#[derive(Debug)]
pub(crate) enum Expr<'a> {
    /// A set held by the index (or built for this query: a crowd, a time scan).
    Set(Cow<'a, Bits>),
    /// Union.
    Or(Vec<Expr<'a>>),
    /// Members of every positive and of no negative; at least one positive.
    And(Vec<Expr<'a>>, Vec<Expr<'a>>),
}

impl<'a> Expr<'a> {
    /// A borrowed set.
    pub(crate) fn set(b: &'a Bits) -> Self {
        Expr::Set(Cow::Borrowed(b))
    }

    /// A union, flattened; one operand stands for itself.
    pub(crate) fn or(xs: Vec<Expr<'a>>) -> Self {
        let mut flat = Vec::with_capacity(xs.len());
        for x in xs {
            match x {
                Expr::Or(inner) => flat.extend(inner),
                x => flat.push(x),
            }
        }
        if flat.len() == 1 {
            flat.pop().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(flat)
        }
    }

    /// `pos` minus `neg`, with `every` standing in when nothing is positive.
    pub(crate) fn and(mut pos: Vec<Expr<'a>>, neg: Vec<Expr<'a>>, every: &'a Bits) -> Self {
        if pos.is_empty() {
            pos.push(Expr::set(every));
        }
        if pos.len() == 1 && neg.is_empty() {
            return pos.pop().unwrap_or(Expr::set(every));
        }
        Expr::And(pos, neg)
    }

    /// Visits every set the expression reads (a set named twice, twice).
    pub(crate) fn each_set(&self, f: &mut dyn FnMut(&Bits)) {
        match self {
            Expr::Set(s) => f(s),
            Expr::Or(xs) => xs.iter().for_each(|x| x.each_set(f)),
            Expr::And(p, n) => p.iter().chain(n).for_each(|x| x.each_set(f)),
        }
    }
}

/// Spare block buffers, so a query allocates a few of them once.
#[derive(Default)]
struct Pool(Vec<Box<Words>>);

impl Pool {
    fn take(&mut self) -> Box<Words> {
        self.0.pop().unwrap_or_else(|| Box::new([0; WORDS]))
    }

    fn give(&mut self, b: Box<Words>) {
        self.0.push(b);
    }
}

fn bit(w: &Words, low: u16) -> bool {
    w[usize::from(low >> 6)] & (1 << (low & 63)) != 0
}

fn popcount(w: &Words) -> u64 {
    ones(w.iter().copied())
}

fn or_chunk(out: &mut Words, c: View<'_>) {
    match c {
        View::Dense(w, _) => out.iter_mut().zip(w.iter()).for_each(|(o, x)| *o |= x),
        View::Array(a) => set_all(out, a),
    }
}

fn and_not_chunk(out: &mut Words, c: View<'_>) {
    match c {
        View::Dense(w, _) => out.iter_mut().zip(w.iter()).for_each(|(o, x)| *o &= !x),
        View::Array(a) => {
            for &low in a {
                out[usize::from(low >> 6)] &= !(1 << (low & 63));
            }
        }
    }
}

/// Writes `e`'s members in block `key` to `out`; false (and `out` unspecified) when it
/// has none there.
fn fill(e: &Expr<'_>, key: u16, out: &mut Words, pool: &mut Pool) -> bool {
    match e {
        Expr::Set(s) => match s.view(key) {
            None => false,
            Some(View::Dense(w, _)) => {
                out.copy_from_slice(&w[..]);
                true
            }
            Some(View::Array(a)) => {
                out.fill(0);
                set_all(out, a);
                true
            }
        },
        Expr::Or(xs) => {
            out.fill(0);
            let mut any = false;
            for x in xs {
                match x {
                    Expr::Set(s) => {
                        if let Some(c) = s.view(key) {
                            or_chunk(out, c);
                            any = true;
                        }
                    }
                    _ => {
                        let mut tmp = pool.take();
                        if fill(x, key, &mut tmp, pool) {
                            out.iter_mut().zip(tmp.iter()).for_each(|(o, x)| *o |= x);
                            any = true;
                        }
                        pool.give(tmp);
                    }
                }
            }
            any
        }
        Expr::And(pos, neg) => and_block(pos, neg, key, pool, Some(out)) > 0,
    }
}

/// An operand tested against the ascending members of a driving array: a bitset is
/// probed by bit, an array by a cursor that only moves forward (a merge, not a search
/// per member).
enum Probe<'c> {
    Words(&'c Words),
    Array(&'c [u16], usize),
}

impl<'c> Probe<'c> {
    fn of(c: View<'c>) -> Probe<'c> {
        match c {
            View::Dense(w, _) => Probe::Words(w),
            View::Array(a) => Probe::Array(a, 0),
        }
    }

    /// Whether `low` is a member; calls must come with ascending `low`.
    fn hit(&mut self, low: u16) -> bool {
        match self {
            Probe::Words(w) => bit(w, low),
            Probe::Array(a, at) => {
                let rest = &a[*at..];
                // Gallop: skip ahead in growing steps, then search the last step.
                let mut step = 1;
                while step < rest.len() && rest[step] < low {
                    step *= 2;
                }
                let window = &rest[..rest.len().min(step + 1)];
                let i = window.partition_point(|&x| x < low);
                *at += i;
                a.get(*at) == Some(&low)
            }
        }
    }
}

/// The members of `pos ∖ neg` in block `key`: counted, and written to `out` if given.
fn and_block(
    pos: &[Expr<'_>],
    neg: &[Expr<'_>],
    key: u16,
    pool: &mut Pool,
    out: Option<&mut Words>,
) -> u64 {
    let mut leaves: SmallVec<[View<'_>; 8]> = SmallVec::new();
    let mut computed: SmallVec<[&Expr<'_>; 4]> = SmallVec::new();
    for p in pos {
        match p {
            Expr::Set(s) => match s.view(key) {
                Some(c) => leaves.push(c),
                None => return 0,
            },
            e => computed.push(e),
        }
    }
    let driver = leaves
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            View::Array(a) => Some((i, a)),
            View::Dense(..) => None,
        })
        .min_by_key(|(_, a)| a.len());
    if let Some((at, array)) = driver {
        return array_driven(array, at, &leaves, &computed, neg, key, pool, out);
    }
    if out.is_none() && computed.is_empty() {
        if let Some(n) = fused_count(&leaves, neg, key) {
            return n;
        }
    }
    // Every positive leaf is a bitset: word by word.
    let mut own: Option<Box<Words>> = None;
    let acc: &mut Words = match out {
        Some(o) => o,
        None => own.insert(pool.take()),
    };
    let mut started = false;
    for c in &leaves {
        if let View::Dense(w, _) = c {
            if started {
                acc.iter_mut().zip(w.iter()).for_each(|(o, x)| *o &= x);
            } else {
                acc.copy_from_slice(&w[..]);
                started = true;
            }
        }
    }
    let mut alive = true;
    for e in computed {
        if started {
            let mut tmp = pool.take();
            if fill(e, key, &mut tmp, pool) {
                acc.iter_mut().zip(tmp.iter()).for_each(|(o, x)| *o &= x);
            } else {
                alive = false;
            }
            pool.give(tmp);
        } else {
            alive = fill(e, key, acc, pool);
            started = true;
        }
        if !alive {
            break;
        }
    }
    let mut n = 0;
    if alive {
        for e in neg {
            match e {
                Expr::Set(s) => {
                    if let Some(c) = s.view(key) {
                        and_not_chunk(acc, c);
                    }
                }
                e => {
                    let mut tmp = pool.take();
                    if fill(e, key, &mut tmp, pool) {
                        acc.iter_mut().zip(tmp.iter()).for_each(|(o, x)| *o &= !x);
                    }
                    pool.give(tmp);
                }
            }
        }
        n = popcount(acc);
    } else {
        acc.fill(0);
    }
    if let Some(b) = own {
        pool.give(b);
    }
    n
}

/// Arrays longer than this are spread into a bitset to be tested against a driving
/// array longer than this.
const SPREAD: usize = 64;

/// `c` written into a cleared buffer.
fn spread_into(mut b: Box<Words>, c: View<'_>) -> Box<Words> {
    b.fill(0);
    or_chunk(&mut b, c);
    b
}

/// Set bits of a stream of words (generic, so the loop is inlined and vectorised).
fn ones(words: impl Iterator<Item = u64>) -> u64 {
    words.map(|x| u64::from(x.count_ones())).sum()
}

/// Members of `array` for which `f` gives 1 (generic for the same reason).
fn tally(array: &[u16], f: impl Fn(u16) -> u64) -> u64 {
    array.iter().map(|&low| f(low)).sum()
}

fn words<'v>(v: &View<'v>) -> Option<&'v Words> {
    match v {
        View::Dense(w, _) => Some(w),
        View::Array(_) => None,
    }
}

/// Counts a conjunction of bitsets minus plain sets without writing anything: one pass
/// of `popcount(p & !n)` over the words, or, for one small array to subtract, the
/// bitset's own count minus its members among the array's. `None` for shapes it does
/// not cover (the general path handles them).
fn fused_count(leaves: &[View<'_>], neg: &[Expr<'_>], key: u16) -> Option<u64> {
    let mut negs: SmallVec<[View<'_>; 4]> = SmallVec::new();
    for e in neg {
        match e {
            Expr::Set(s) => negs.extend(s.view(key)),
            _ => return None,
        }
    }
    match (leaves, negs.as_slice()) {
        ([View::Dense(_, n)], []) => Some(u64::from(*n)),
        ([View::Dense(p, n)], [View::Array(a)]) => {
            Some(u64::from(*n) - a.iter().filter(|&&low| bit(p, low)).count() as u64)
        }
        ([View::Dense(p, _)], [q]) => {
            let q = words(q)?;
            Some(ones(p.iter().zip(q.iter()).map(|(p, q)| p & !q)))
        }
        ([a, b], []) => {
            let (a, b) = (words(a)?, words(b)?);
            Some(ones(a.iter().zip(b.iter()).map(|(a, b)| a & b)))
        }
        ([a, b], [q]) => {
            let (a, b) = (words(a)?, words(b)?);
            match q {
                View::Dense(q, _) => Some(ones(
                    a.iter()
                        .zip(b.iter())
                        .zip(q.iter())
                        .map(|((a, b), q)| a & b & !q),
                )),
                View::Array(q) => {
                    let both = ones(a.iter().zip(b.iter()).map(|(a, b)| a & b));
                    let gone = q.iter().filter(|&&low| bit(a, low) && bit(b, low)).count();
                    Some(both - gone as u64)
                }
            }
        }
        _ => None,
    }
}

/// A conjunction whose smallest positive operand in this block is the array `array`
/// (`leaves[at]`): each of its members is tested against the others.
#[allow(clippy::too_many_arguments)]
fn array_driven(
    array: &[u16],
    at: usize,
    leaves: &[View<'_>],
    computed: &[&Expr<'_>],
    neg: &[Expr<'_>],
    key: u16,
    pool: &mut Pool,
    out: Option<&mut Words>,
) -> u64 {
    let mut bufs: SmallVec<[Box<Words>; 4]> = SmallVec::new();
    let give_back = |bufs: SmallVec<[Box<Words>; 4]>, pool: &mut Pool| {
        bufs.into_iter().for_each(|b| pool.give(b));
    };
    for e in computed {
        let mut b = pool.take();
        if !fill(e, key, &mut b, pool) {
            pool.give(b);
            give_back(bufs, pool);
            if let Some(o) = out {
                o.fill(0);
            }
            return 0;
        }
        bufs.push(b);
    }
    let pos_bufs = bufs.len();
    let mut neg_chunks: SmallVec<[View<'_>; 4]> = SmallVec::new();
    for e in neg {
        match e {
            Expr::Set(s) => neg_chunks.extend(s.view(key)),
            e => {
                let mut b = pool.take();
                if fill(e, key, &mut b, pool) {
                    bufs.push(b);
                } else {
                    pool.give(b);
                }
            }
        }
    }
    // An array operand about as long as the driver is cheaper to test as bits: spread
    // it into a buffer once (8 KiB cleared, one store per member) rather than merging.
    let spread =
        |c: &View<'_>| matches!(c, View::Array(a) if a.len() > SPREAD && array.len() > SPREAD);
    let mut spread_pos = 0;
    for (i, c) in leaves.iter().enumerate() {
        if i != at && spread(c) {
            bufs.insert(pos_bufs + spread_pos, spread_into(pool.take(), *c));
            spread_pos += 1;
        }
    }
    let pos_bufs = pos_bufs + spread_pos;
    for c in &neg_chunks {
        if spread(c) {
            bufs.push(spread_into(pool.take(), *c));
        }
    }
    let n = 'n: {
        let mut pos: SmallVec<[Probe<'_>; 8]> = leaves
            .iter()
            .enumerate()
            .filter(|(i, c)| *i != at && !spread(c))
            .map(|(_, c)| Probe::of(*c))
            .chain(bufs[..pos_bufs].iter().map(|b| Probe::Words(b)))
            .collect();
        let mut negs: SmallVec<[Probe<'_>; 4]> = neg_chunks
            .into_iter()
            .filter(|c| !spread(c))
            .map(Probe::of)
            .chain(bufs[pos_bufs..].iter().map(|b| Probe::Words(b)))
            .collect();
        if out.is_none() {
            if let Some(n) = count_by_bits(array, &pos, &negs) {
                break 'n n;
            }
        }
        let mut keep = |low: u16| {
            pos.iter_mut().all(|p| p.hit(low))
                && !negs.iter_mut().fold(false, |hit, n| n.hit(low) | hit)
        };
        match out {
            Some(o) => {
                o.fill(0);
                let mut n = 0;
                for &low in array {
                    if keep(low) {
                        o[usize::from(low >> 6)] |= 1 << (low & 63);
                        n += 1;
                    }
                }
                n
            }
            None => array.iter().filter(|&&low| keep(low)).count() as u64,
        }
    };
    give_back(bufs, pool);
    n
}

fn all_words<'w>(ps: &[Probe<'w>]) -> Option<SmallVec<[&'w Words; 2]>> {
    ps.iter()
        .map(|p| match p {
            Probe::Words(w) => Some(*w),
            Probe::Array(..) => None,
        })
        .collect()
}

/// A count of the members of `array` in every `pos` and no `neg` when all of them are
/// bitsets and there are at most two: a branch-free loop of bit tests (the common shape
/// — a region or rare tag minus the blacklist — in a few cycles a member).
fn count_by_bits(array: &[u16], pos: &[Probe<'_>], neg: &[Probe<'_>]) -> Option<u64> {
    let (pos, neg) = (all_words(pos)?, all_words(neg)?);
    let b = |w: &Words, low: u16| (w[usize::from(low >> 6)] >> (low & 63)) & 1;
    Some(match (pos.as_slice(), neg.as_slice()) {
        ([], []) => array.len() as u64,
        ([p], []) => tally(array, |l| b(p, l)),
        ([], [n]) => tally(array, |l| 1 ^ b(n, l)),
        ([p], [n]) => tally(array, |l| b(p, l) & (1 ^ b(n, l))),
        ([], [n, m]) => tally(array, |l| 1 ^ (b(n, l) | b(m, l))),
        ([p], [n, m]) => tally(array, |l| b(p, l) & (1 ^ (b(n, l) | b(m, l)))),
        ([p, q], []) => tally(array, |l| b(p, l) & b(q, l)),
        ([p, q], [n]) => tally(array, |l| b(p, l) & b(q, l) & (1 ^ b(n, l))),
        _ => return None,
    })
}

/// The blocks worth visiting: those of the smallest positive set of a conjunction,
/// else every block of `every`.
fn blocks<'e>(e: &'e Expr<'_>, every: &'e Bits) -> &'e [u16] {
    if let Expr::And(pos, _) = e {
        let smallest = pos
            .iter()
            .filter_map(|p| match p {
                Expr::Set(s) => Some(&**s),
                _ => None,
            })
            .min_by_key(|s| s.len());
        if let Some(s) = smallest {
            return s.keys();
        }
    }
    every.keys()
}

/// How many members `e` has; `every` holds every ordinal.
pub(crate) fn count(e: &Expr<'_>, every: &Bits) -> u64 {
    let parts = if reads(e) >= PARALLEL_BYTES {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARTS))
    } else {
        1
    };
    count_in_parts(e, every, parts)
}

/// A count reading at least this many bytes is split across the cores: its blocks are
/// independent, and below this (about a fifth of a millisecond of reading) starting a
/// thread would cost more than it saves.
const PARALLEL_BYTES: usize = 2 << 20;
/// At most this many parts.
const MAX_PARTS: usize = 4;

/// About how many bytes of sets `e` reads, from each set's size alone (a walk of
/// every chunk would itself cost tens of microseconds on a wide query at 100M).
fn reads(e: &Expr<'_>) -> usize {
    let mut bytes = 0;
    e.each_set(&mut |s| bytes += s.approx_bytes());
    bytes
}

/// [`count`] over `parts` contiguous runs of blocks, one thread each (the caller's
/// thread takes the first run).
pub(crate) fn count_in_parts(e: &Expr<'_>, every: &Bits, parts: usize) -> u64 {
    if let Expr::Set(s) = e {
        return s.len();
    }
    let keys = match e {
        Expr::And(..) => blocks(e, every),
        _ => every.keys(),
    };
    let per = keys.len().div_ceil(parts.max(1)).max(1);
    let mut runs = keys.chunks(per);
    let first = runs.next().unwrap_or(&[]);
    std::thread::scope(|scope| {
        let others: Vec<_> = runs
            .map(|run| scope.spawn(move || count_blocks(e, run)))
            .collect();
        let mine = count_blocks(e, first);
        // A part that panicked is a bug; it surfaces as that panic, not a wrong count.
        others
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .sum::<u64>()
            + mine
    })
}

/// The members of `e` in the blocks `keys`.
fn count_blocks(e: &Expr<'_>, keys: &[u16]) -> u64 {
    let mut pool = Pool::default();
    match e {
        Expr::Set(s) => keys
            .iter()
            .filter_map(|&k| s.view(k))
            .map(|v| match v {
                View::Array(a) => a.len() as u64,
                View::Dense(_, n) => u64::from(n),
            })
            .sum(),
        Expr::And(pos, neg) => keys
            .iter()
            .map(|&key| and_block(pos, neg, key, &mut pool, None))
            .sum(),
        Expr::Or(_) => {
            let mut buf = pool.take();
            keys.iter()
                .map(|&key| {
                    if fill(e, key, &mut buf, &mut pool) {
                        popcount(&buf)
                    } else {
                        0
                    }
                })
                .sum()
        }
    }
}

/// The members of `e`; `every` holds every ordinal.
pub(crate) fn members(e: &Expr<'_>, every: &Bits) -> Bits {
    if let Expr::Set(s) = e {
        return s.as_ref().clone();
    }
    let mut pool = Pool::default();
    let mut buf = pool.take();
    let mut out = Bits::new();
    for &key in blocks(e, every) {
        if fill(e, key, &mut buf, &mut pool) {
            out.push_block(key, &buf);
        }
    }
    out
}
