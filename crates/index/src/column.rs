//! [`Column`]: one `i64` per ordinal (a device time), stored frame-of-reference
//! bit-packed in blocks of 1,024 ordinals: each block keeps its smallest value and the
//! offsets from it in as many bits as its widest offset needs. Times of devices created
//! or seen close together take a few bits each instead of eight bytes; a block of devices
//! that never logged in takes none.

/// Ordinals per block.
const BLOCK: usize = 1024;

#[derive(Debug, Clone, Default)]
struct Packed {
    base: i64,
    width: u32,
    /// Slots ever written (slots past it read as `base` and do not widen the block).
    filled: u32,
    words: Box<[u64]>,
}

fn width_of(span: u64) -> u32 {
    64 - span.leading_zeros()
}

impl Packed {
    fn get(&self, slot: usize) -> i64 {
        if self.width == 0 {
            return self.base;
        }
        let w = self.width as usize;
        let (at, shift) = ((slot * w) / 64, (slot * w) % 64);
        let mut v = self.words[at] >> shift;
        if shift + w > 64 {
            v |= self.words[at + 1] << (64 - shift);
        }
        let mask = if w == 64 { u64::MAX } else { (1 << w) - 1 };
        self.base.wrapping_add((v & mask) as i64)
    }

    fn put(&mut self, slot: usize, value: i64) {
        let w = self.width as usize;
        if w == 0 {
            return;
        }
        let off = value.wrapping_sub(self.base) as u64;
        let mask = if w == 64 { u64::MAX } else { (1 << w) - 1 };
        let (at, shift) = ((slot * w) / 64, (slot * w) % 64);
        self.words[at] = (self.words[at] & !(mask << shift)) | (off << shift);
        if shift + w > 64 {
            let hi = w - (64 - shift);
            let hi_mask = (1u64 << hi) - 1;
            self.words[at + 1] = (self.words[at + 1] & !hi_mask) | (off >> (64 - shift));
        }
    }

    fn fits(&self, value: i64) -> bool {
        let off = i128::from(value) - i128::from(self.base);
        off >= 0 && (self.width == 64 || off < (1i128 << self.width))
    }

    fn set(&mut self, slot: usize, value: i64) {
        let filled = self.filled as usize;
        if filled == 0 {
            *self = Packed {
                base: value,
                width: 0,
                filled: slot as u32 + 1,
                words: Box::new([]),
            };
            return;
        }
        if self.fits(value) {
            self.put(slot, value);
            self.filled = self.filled.max(slot as u32 + 1);
            return;
        }
        // Widen: decode, then re-encode around the new smallest value.
        let new_filled = filled.max(slot + 1);
        let mut values: Vec<i64> = (0..new_filled).map(|s| self.get(s)).collect();
        values[slot] = value;
        let min = values.iter().copied().min().unwrap_or(value);
        let max = values.iter().copied().max().unwrap_or(value);
        let width = width_of(max.wrapping_sub(min) as u64);
        *self = Packed {
            base: min,
            width,
            filled: new_filled as u32,
            words: vec![0; (BLOCK * width as usize).div_ceil(64)].into_boxed_slice(),
        };
        for (s, v) in values.into_iter().enumerate() {
            self.put(s, v);
        }
    }

    fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// An `i64` per ordinal, compressed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Column {
    blocks: Vec<Packed>,
}

impl Column {
    /// The value of `ord` (0 when never set).
    pub(crate) fn get(&self, ord: u32) -> i64 {
        let ord = ord as usize;
        self.blocks
            .get(ord / BLOCK)
            .map_or(0, |b| b.get(ord % BLOCK))
    }

    pub(crate) fn set(&mut self, ord: u32, value: i64) {
        let ord = ord as usize;
        let at = ord / BLOCK;
        if self.blocks.len() <= at {
            self.blocks.resize_with(at + 1, Packed::default);
        }
        self.blocks[at].set(ord % BLOCK, value);
    }

    /// Takes every block `later` has written (the parts of a build split by block).
    pub(crate) fn append(&mut self, later: Column) {
        for (at, b) in later.blocks.into_iter().enumerate() {
            if b.filled > 0 {
                if self.blocks.len() <= at {
                    self.blocks.resize_with(at + 1, Packed::default);
                }
                self.blocks[at] = b;
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Packed>()
            + self.blocks.iter().map(Packed::heap_bytes).sum::<usize>()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.blocks.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random values of every width, written in any order and overwritten, read back
    /// as written; unwritten ordinals read 0.
    #[test]
    fn reads_back_what_was_written() {
        let mut next = crate::xorshift(99);
        let mut col = Column::default();
        let mut want = vec![0i64; 5_000];
        for round in 0..40_000 {
            let ord = (next() % 5_000) as usize;
            let v = match round % 5 {
                0 => 1_700_000_000_000 + (next() % 31_536_000_000) as i64,
                1 => (next() % 16) as i64,
                2 => next() as i64,
                3 => i64::MIN + (next() % 3) as i64,
                _ => i64::MAX - (next() % 3) as i64,
            };
            col.set(ord as u32, v);
            want[ord] = v;
            if round % 997 == 0 {
                for (o, w) in want.iter().enumerate() {
                    if *w != 0 {
                        assert_eq!(col.get(o as u32), *w, "ord {o} round {round}");
                    }
                }
            }
        }
        for (o, w) in want.iter().enumerate() {
            if *w != 0 {
                assert_eq!(col.get(o as u32), *w, "ord {o}");
            }
        }
        assert_eq!(col.get(1_000_000), 0);
    }

    /// Close values pack into few bits: a year of milliseconds takes 35 bits a device,
    /// a block of zeros none.
    #[test]
    fn close_values_take_few_bits() {
        let mut col = Column::default();
        for ord in 0..BLOCK as u32 * 4 {
            col.set(ord, 1_700_000_000_000 + i64::from(ord) * 7_000_000);
        }
        let mut zeros = Column::default();
        for ord in 0..BLOCK as u32 * 4 {
            zeros.set(ord, 0);
        }
        assert!(col.heap_bytes() < BLOCK * 4 * 5, "{}", col.heap_bytes());
        assert!(zeros.heap_bytes() < 400, "{}", zeros.heap_bytes());
        assert_eq!(col.get(4095), 1_700_000_000_000 + 4095 * 7_000_000);
    }
}
