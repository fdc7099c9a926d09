//! Scoring devices and cutting crowds.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::mem::size_of;

use roaring::RoaringBitmap;

use crate::model::{Model, Vector};
use crate::{Crowd, Inputs, Params, PushCopy, Stopped, Watch, FLOOR, PROGRESS_EVERY, W_OPEN};

/// Picks one crowd per copy, in the order of `copies`.
///
/// The score of eligible device `d` for copy `c` is
/// `Σ cos(c, t) over the tags t of d + W_OPEN × Σ cos(c, o) over the distinct texts o
/// that d opened`, where a similarity at or below [`FLOOR`] counts as 0. Devices
/// scoring 0 are never picked. A crowd is the `package_num` highest-scoring
/// candidates, ties to the lower ordinal. With `overlap`, every eligible device is a
/// candidate for every copy; without, a device is a candidate only for the copy it
/// scores highest on (ties to the earlier copy), and it is not used to fill another
/// copy's crowd, which may then stay below `package_num`.
///
/// The result depends only on the arguments. Returns [`Stopped`] as soon as `watch`
/// says so.
pub fn pick(
    copies: &[PushCopy<'_>],
    inputs: &Inputs<'_>,
    params: &Params,
    watch: &dyn Watch,
) -> Result<Vec<Crowd>, Stopped> {
    let meter = Meter {
        watch,
        done: 0,
        until_report: PROGRESS_EVERY,
    };
    meter.check()?;
    let model = Model::build(copies, inputs);
    let Some(max) = inputs.eligible.max() else {
        return Ok((0..copies.len())
            .map(|c| Crowd {
                members: RoaringBitmap::new(),
                terms: model.terms(c),
                scored: 0,
            })
            .collect());
    };
    let k = usize::try_from(params.package_num.min(inputs.eligible.len())).unwrap_or(usize::MAX);
    let mut run = Run {
        model: &model,
        inputs,
        max,
        k,
        meter,
    };
    let crowds = if params.overlap {
        run.overlapping()?
    } else {
        run.disjoint()?
    };
    watch.progress(run.meter.done);
    Ok(crowds)
}

/// An estimate of the peak memory [`pick`] allocates for scoring, in bytes, for an
/// `eligible` bitmap whose highest ordinal is `max_ordinal`: the dense score buffer
/// (4 bytes per ordinal up to `max_ordinal`), without overlap the best-score and
/// best-copy arrays (6 more), and the top-k heap of one copy at a time (8 bytes per
/// kept device). It
/// leaves out the text model (proportional to the texts, not to the devices) and the
/// returned crowds.
pub fn working_bytes(max_ordinal: u32, params: &Params) -> usize {
    let len = max_ordinal as usize + 1;
    let k = usize::try_from(params.package_num).unwrap_or(usize::MAX);
    let entry = size_of::<Entry>();
    let buffer = len * size_of::<f32>();
    if params.overlap {
        buffer + k.min(len) * entry
    } else {
        let best = len * (size_of::<f32>() + size_of::<u16>());
        best + buffer.max(k.min(len) * entry)
    }
}

/// Counts device scores read, reports progress and polls for a stop.
struct Meter<'w> {
    watch: &'w dyn Watch,
    done: u64,
    until_report: u64,
}

impl Meter<'_> {
    fn check(&self) -> Result<(), Stopped> {
        if self.watch.stopped() {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    #[inline]
    fn tick(&mut self) -> Result<(), Stopped> {
        self.done += 1;
        self.until_report -= 1;
        if self.until_report == 0 {
            self.until_report = PROGRESS_EVERY;
            self.watch.progress(self.done);
            self.check()?;
        }
        Ok(())
    }
}

/// One call's state.
struct Run<'a, 'w> {
    model: &'a Model,
    inputs: &'a Inputs<'a>,
    /// Highest eligible ordinal; the buffers hold `max + 1` scores.
    max: u32,
    /// Crowd size cap, at most the eligible count.
    k: usize,
    meter: Meter<'w>,
}

impl Run<'_, '_> {
    fn len(&self) -> usize {
        self.max as usize + 1
    }

    /// Fills `buf` with every device's score for `copy`, tag by tag, then text by
    /// text, in input order.
    fn score(&self, copy: &Vector, buf: &mut [f32]) -> Result<(), Stopped> {
        buf.fill(0.0);
        let tags = self.inputs.tags.iter().zip(&self.model.tags);
        let tags = tags.map(|(&(_, devices), v)| (devices, v, 1.0));
        let opens = self.inputs.opens.iter().zip(&self.model.opens);
        let opens = opens.map(|(&(_, devices), v)| (devices, v, W_OPEN));
        for (devices, vector, weight) in tags.chain(opens) {
            self.meter.check()?;
            let sim = copy.cosine(vector);
            if sim <= FLOOR {
                continue;
            }
            let add = (weight * sim) as f32;
            for d in devices.range(..=self.max) {
                if let Some(s) = buf.get_mut(d as usize) {
                    *s += add;
                }
            }
        }
        Ok(())
    }

    /// Each copy on its own: score, then keep the top k.
    fn overlapping(&mut self) -> Result<Vec<Crowd>, Stopped> {
        let mut buf = vec![0f32; self.len()];
        let mut crowds = Vec::with_capacity(self.model.copies.len());
        for (c, copy) in self.model.copies.iter().enumerate() {
            self.score(copy, &mut buf)?;
            let mut top = TopK::new(self.k, self.k);
            let mut scored = 0;
            for d in self.inputs.eligible {
                self.meter.tick()?;
                let score = buf.get(d as usize).copied().unwrap_or(0.0);
                if score > 0.0 {
                    scored += 1;
                    top.push(Entry { score, ordinal: d });
                }
            }
            crowds.push(Crowd {
                members: top.into_bitmap(),
                terms: self.model.terms(c),
                scored,
            });
        }
        Ok(crowds)
    }

    /// Every copy scored in turn, each device remembering its best copy; then each
    /// copy keeps the top k of the devices whose best copy it is.
    fn disjoint(&mut self) -> Result<Vec<Crowd>, Stopped> {
        let copies = self.model.copies.len();
        let mut best = vec![0f32; self.len()];
        // At most `u16::MAX + 1` copies (a plan has ten).
        let mut best_copy = vec![0u16; self.len()];
        let mut scored = vec![0u64; copies];
        let mut buf = vec![0f32; self.len()];
        for (c, copy) in self.model.copies.iter().enumerate() {
            self.score(copy, &mut buf)?;
            for d in self.inputs.eligible {
                self.meter.tick()?;
                let d = d as usize;
                let score = buf.get(d).copied().unwrap_or(0.0);
                if score > 0.0 {
                    scored[c] += 1;
                    // Strictly greater: a tie stays with the earlier copy.
                    if score > best[d] {
                        best[d] = score;
                        best_copy[d] = u16::try_from(c).unwrap_or(u16::MAX);
                    }
                }
            }
        }
        drop(buf);
        // One copy's heap at a time: the peak stays at the best arrays plus one heap.
        let mut crowds = Vec::with_capacity(copies);
        for (c, scored) in scored.into_iter().enumerate() {
            let mine = |d: u32| best[d as usize] > 0.0 && usize::from(best_copy[d as usize]) == c;
            let n = self.inputs.eligible.iter().filter(|d| mine(*d)).count();
            let mut top = TopK::new(self.k, n.min(self.k));
            for d in self.inputs.eligible.iter().filter(|d| mine(*d)) {
                top.push(Entry {
                    score: best[d as usize],
                    ordinal: d,
                });
            }
            self.meter.check()?;
            crowds.push(Crowd {
                members: top.into_bitmap(),
                terms: self.model.terms(c),
                scored,
            });
        }
        Ok(crowds)
    }
}

/// A candidate. Ordered worst last: lower score, then higher ordinal, is greater,
/// so a max-heap of entries has the worst kept one on top.
#[derive(Debug, Clone, Copy)]
struct Entry {
    score: f32,
    ordinal: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.ordinal.cmp(&other.ordinal))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// The best `k` entries seen.
struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    fn new(k: usize, capacity: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(capacity),
        }
    }

    fn push(&mut self, entry: Entry) {
        if self.heap.len() < self.k {
            self.heap.push(entry);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if entry < *worst {
                *worst = entry;
            }
        }
    }

    fn into_bitmap(self) -> RoaringBitmap {
        let mut ordinals: Vec<u32> = self.heap.into_iter().map(|e| e.ordinal).collect();
        ordinals.sort_unstable();
        ordinals.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn bm(ordinals: impl IntoIterator<Item = u32>) -> RoaringBitmap {
        ordinals.into_iter().collect()
    }

    fn copy(topic: &str) -> PushCopy<'_> {
        PushCopy { topic, content: "" }
    }

    fn run(
        copies: &[&str],
        tags: &[(&str, &RoaringBitmap)],
        eligible: &RoaringBitmap,
        package_num: u64,
        overlap: bool,
    ) -> Vec<Crowd> {
        let copies: Vec<_> = copies.iter().map(|t| copy(t)).collect();
        let inputs = Inputs {
            tags: tags.to_vec(),
            opens: Vec::new(),
            seen: Vec::new(),
            eligible,
        };
        let params = Params {
            package_num,
            overlap,
        };
        pick(&copies, &inputs, &params, &()).expect("not stopped")
    }

    fn members(c: &Crowd) -> Vec<u32> {
        c.members.iter().collect()
    }

    #[test]
    fn cap_keeps_top_scores_ties_to_lower_ordinal() {
        let (a, b) = (bm(1..=5), bm([4, 5]));
        let all = bm(0..10);
        let crowds = run(&["篮球"], &[("篮球", &a), ("篮球", &b)], &all, 3, true);
        // 4 and 5 carry both tags; 1, 2, 3 tie and the lowest wins.
        assert_eq!(members(&crowds[0]), [1, 4, 5]);
        assert_eq!(crowds[0].scored, 5);
        assert_eq!(crowds[0].terms[0].term, "篮球");
    }

    #[test]
    fn eligible_filter_is_respected() {
        let a = bm(0..100);
        let eligible = bm([3, 50, 99, 1000]);
        let crowds = run(&["篮球"], &[("篮球", &a)], &eligible, 10, true);
        assert_eq!(members(&crowds[0]), [3, 50, 99]);
        assert_eq!(crowds[0].scored, 3);
    }

    #[test]
    fn devices_scoring_zero_are_left_out() {
        let (a, b) = (bm([1, 2]), bm([3]));
        let all = bm(0..10);
        let crowds = run(
            &["美食", "篮球"],
            &[("篮球", &a), ("旅游", &b)],
            &all,
            10,
            true,
        );
        assert!(crowds[0].members.is_empty());
        assert_eq!(crowds[0].scored, 0);
        assert_eq!(members(&crowds[1]), [1, 2]);
    }

    #[test]
    fn empty_eligible_gives_empty_crowds() {
        let a = bm([1, 2]);
        let crowds = run(&["篮球"], &[("篮球", &a)], &RoaringBitmap::new(), 10, false);
        assert_eq!(crowds.len(), 1);
        assert!(crowds[0].members.is_empty());
        assert!(!crowds[0].terms.is_empty());
    }

    #[test]
    fn without_overlap_crowds_are_disjoint_and_ties_go_to_the_earlier_copy() {
        let (a, b) = (bm([1, 2, 3]), bm([3, 4]));
        let all = bm(0..10);
        let tags = [("篮球", &a), ("美食", &b)];
        let crowds = run(&["篮球", "美食"], &tags, &all, 10, false);
        assert_eq!(members(&crowds[0]), [1, 2, 3]);
        assert_eq!(members(&crowds[1]), [4]);
        assert_eq!(crowds[1].scored, 2);
        let shared = run(&["篮球", "美食"], &tags, &all, 10, true);
        assert_eq!(members(&shared[0]), [1, 2, 3]);
        assert_eq!(members(&shared[1]), [3, 4]);
    }

    #[test]
    fn without_overlap_a_device_goes_to_its_best_copy_and_is_no_filler() {
        let (a, b) = (bm([1, 2]), bm([2]));
        let all = bm(0..10);
        let tags = [("篮球", &a), ("美食", &b), ("美食", &b)];
        let crowds = run(&["篮球", "美食"], &tags, &all, 5, false);
        assert_eq!(members(&crowds[0]), [1]);
        assert_eq!(crowds[0].scored, 2);
        assert_eq!(members(&crowds[1]), [2]);
    }

    struct Stopper {
        after_calls: u64,
        calls: Cell<u64>,
        last: Cell<u64>,
    }

    impl Watch for Stopper {
        fn progress(&self, scored_so_far: u64) {
            self.calls.set(self.calls.get() + 1);
            self.last.set(scored_so_far);
        }
        fn stopped(&self) -> bool {
            self.calls.get() >= self.after_calls
        }
    }

    #[test]
    fn stop_is_honoured_and_progress_reported() {
        let a = bm(0..200_000);
        let inputs = Inputs {
            tags: vec![("篮球", &a)],
            opens: Vec::new(),
            seen: Vec::new(),
            eligible: &a,
        };
        let copies = [copy("篮球"), copy("今晚篮球")];
        for overlap in [true, false] {
            let params = Params {
                package_num: 10,
                overlap,
            };
            let watch = |after_calls| Stopper {
                after_calls,
                calls: Cell::new(0),
                last: Cell::new(0),
            };
            let w = watch(0);
            assert_eq!(pick(&copies, &inputs, &params, &w), Err(Stopped));
            let w = watch(1);
            assert_eq!(pick(&copies, &inputs, &params, &w), Err(Stopped));
            assert_eq!(w.last.get(), PROGRESS_EVERY);
            let w = watch(u64::MAX);
            let crowds = pick(&copies, &inputs, &params, &w).expect("not stopped");
            assert_eq!(w.last.get(), 400_000);
            assert_eq!(w.calls.get(), 400_000 / PROGRESS_EVERY + 1);
            // Without overlap every device's best copy is the exact match `篮球`.
            let second = if overlap { 10 } else { 0 };
            assert_eq!(crowds[0].members.len(), 10);
            assert_eq!(crowds[1].members.len(), second);
        }
    }

    #[test]
    fn same_inputs_same_crowds() {
        let sets: Vec<RoaringBitmap> = (0..6u32)
            .map(|t| bm((0..5000u32).filter(|d| (d * 7 + t * 13) % (t + 3) == 0)))
            .collect();
        let names = ["篮球", "足球", "篮球赛", "美食", "今晚直播", "NBA"];
        let tags: Vec<_> = names.iter().copied().zip(sets.iter()).collect();
        let all = bm(0..5000);
        let copies = ["篮球决赛今晚直播", "周末美食", "NBA 篮球赛"];
        for overlap in [true, false] {
            let first = run(&copies, &tags, &all, 700, overlap);
            let again = run(&copies, &tags, &all, 700, overlap);
            assert_eq!(first, again);
            assert!(first.iter().any(|c| !c.members.is_empty()));
            if overlap {
                assert!(first.iter().all(|c| c.members.len() == 700));
            } else {
                for (i, a) in first.iter().enumerate() {
                    for b in &first[i + 1..] {
                        assert!(a.members.is_disjoint(&b.members));
                    }
                }
            }
        }
    }

    #[test]
    fn working_bytes_counts_buffers_and_heaps() {
        let p = |package_num, overlap| Params {
            package_num,
            overlap,
        };
        assert_eq!(working_bytes(999, &p(10, true)), 4000 + 80);
        assert_eq!(working_bytes(999, &p(10, false)), 6000 + 4000);
        assert_eq!(working_bytes(999, &p(1000, false)), 6000 + 8000);
        assert_eq!(working_bytes(999, &p(u64::MAX, true)), 4000 + 8000);
    }
}
