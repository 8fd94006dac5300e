//! Fixed-width task sets (`[u64; W]`) and a fast hasher for the search's memory of visited states.

use std::hash::{BuildHasherDefault, Hasher};

/// A set of tasks as `W` 64-bit words.
pub type Set<const W: usize> = [u64; W];

/// The set of tasks `0..n`.
pub fn full<const W: usize>(n: usize) -> Set<W> {
    let mut s = [0u64; W];
    for i in 0..n {
        insert(&mut s, i);
    }
    s
}

pub fn contains<const W: usize>(s: &Set<W>, i: usize) -> bool {
    s[i >> 6] >> (i & 63) & 1 == 1
}

pub fn insert<const W: usize>(s: &mut Set<W>, i: usize) {
    s[i >> 6] |= 1 << (i & 63);
}

pub fn remove<const W: usize>(s: &mut Set<W>, i: usize) {
    s[i >> 6] &= !(1 << (i & 63));
}

pub fn union<const W: usize>(a: &Set<W>, b: &Set<W>) -> Set<W> {
    std::array::from_fn(|k| a[k] | b[k])
}

pub fn intersect<const W: usize>(a: &Set<W>, b: &Set<W>) -> Set<W> {
    std::array::from_fn(|k| a[k] & b[k])
}

/// `a \ b`.
pub fn minus<const W: usize>(a: &Set<W>, b: &Set<W>) -> Set<W> {
    std::array::from_fn(|k| a[k] & !b[k])
}

pub fn is_subset<const W: usize>(a: &Set<W>, b: &Set<W>) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

pub fn intersects<const W: usize>(a: &Set<W>, b: &Set<W>) -> bool {
    a.iter().zip(b).any(|(x, y)| x & y != 0)
}

/// Number of members.
pub fn count<const W: usize>(s: &Set<W>) -> u32 {
    s.iter().map(|w| w.count_ones()).sum()
}

/// Removes and returns the smallest member of `s`.
#[inline]
pub fn pop_first<const W: usize>(s: &mut Set<W>) -> Option<usize> {
    let k = s.iter().position(|&w| w != 0)?;
    let b = s[k].trailing_zeros() as usize;
    s[k] &= s[k] - 1;
    Some(k * 64 + b)
}

/// Calls `f` for every member of `s` in increasing order.
#[inline]
pub fn for_each<const W: usize>(s: &Set<W>, mut f: impl FnMut(usize)) {
    for (k, &word) in s.iter().enumerate() {
        let mut w = word;
        while w != 0 {
            let b = w.trailing_zeros() as usize;
            f(k * 64 + b);
            w &= w - 1;
        }
    }
}

/// Calls `f` for the members of `s` in increasing order while it returns true; true when it never returned
/// false.
#[inline]
pub fn try_for_each<const W: usize>(s: &Set<W>, mut f: impl FnMut(usize) -> bool) -> bool {
    for (k, &word) in s.iter().enumerate() {
        let mut w = word;
        while w != 0 {
            let b = w.trailing_zeros() as usize;
            if !f(k * 64 + b) {
                return false;
            }
            w &= w - 1;
        }
    }
    true
}

/// Bit vectors of any length as `u64` slices (sums reachable by subsets of task times, and the like).
pub mod bits {
    /// `dst |= src << by` (bits shifted past the end are dropped); `dst` and `src` have the same length.
    pub fn shift_or(dst: &mut [u64], src: &[u64], by: usize) {
        let (words, b) = (by / 64, by % 64);
        for k in (words..dst.len()).rev() {
            let carry = if b > 0 && k > words { src[k - words - 1] >> (64 - b) } else { 0 };
            dst[k] |= (src[k - words] << b) | carry;
        }
    }

    /// `s |= s << by`.
    pub fn shift_or_self(s: &mut [u64], by: usize) {
        let (words, b) = (by / 64, by % 64);
        // From the top down, every source word is read before it is written.
        for k in (words..s.len()).rev() {
            let carry = if b > 0 && k > words { s[k - words - 1] >> (64 - b) } else { 0 };
            s[k] |= (s[k - words] << b) | carry;
        }
    }

    pub fn set(s: &mut [u64], i: usize) {
        if let Some(w) = s.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub fn get(s: &[u64], i: usize) -> bool {
        s.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// True when some bit in `lo..hi` is set (bits past the end count as unset).
    pub fn any_in(s: &[u64], lo: usize, hi: usize) -> bool {
        let hi = hi.min(s.len() * 64);
        if lo >= hi {
            return false;
        }
        let (first, last) = (lo / 64, (hi - 1) / 64);
        (first..=last).any(|k| {
            let mut w = s[k];
            if k == first {
                w &= u64::MAX << (lo % 64);
            }
            if k == last && !hi.is_multiple_of(64) {
                w &= u64::MAX >> (64 - hi % 64);
            }
            w != 0
        })
    }
}

/// A multiply-rotate hasher (as in rustc's FxHash): fast for keys made of machine words.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low ones that pick the hash-table bucket.
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// A `HashMap` keyed by task sets.
pub type SetMap<const W: usize, V> = std::collections::HashMap<Set<W>, V, BuildHasherDefault<WordHasher>>;

#[cfg(test)]
mod tests {
    use super::bits;

    /// The bit vector helpers against plain boolean vectors.
    #[test]
    fn bit_vectors_match_boolean_vectors() {
        let mut next = crate::salbp::test_rng(0x51ed_270b_2765_4321u64);
        for _ in 0..500 {
            let words = 1 + next(4) as usize;
            let len = words * 64;
            let plain: Vec<bool> = (0..len).map(|_| next(5) == 0).collect();
            let mut v = vec![0u64; words];
            for (i, &b) in plain.iter().enumerate() {
                if b {
                    bits::set(&mut v, i);
                }
            }
            let by = next(len as u64 + 10) as usize;
            let shifted: Vec<bool> = (0..len).map(|i| plain[i] || (i >= by && plain[i - by])).collect();
            let mut a = v.clone();
            bits::shift_or(&mut a, &v, by);
            let mut b = v.clone();
            bits::shift_or_self(&mut b, by);
            for (i, &expect) in shifted.iter().enumerate() {
                assert_eq!(bits::get(&a, i), expect, "shift_or by {by}, bit {i}");
                assert_eq!(bits::get(&b, i), expect, "shift_or_self by {by}, bit {i}");
            }
            let lo = next(len as u64 + 5) as usize;
            let hi = lo + next(130) as usize;
            let expect = (lo..hi.min(len)).any(|i| plain[i]);
            assert_eq!(bits::any_in(&v, lo, hi), expect, "any_in {lo}..{hi}");
        }
    }
}
