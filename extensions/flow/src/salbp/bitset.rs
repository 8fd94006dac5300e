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

/// A multiply-rotate hasher (as in rustc's FxHash): fast for keys made of machine words.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
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
pub type SetMap<const W: usize, V> =
    std::collections::HashMap<Set<W>, V, BuildHasherDefault<WordHasher>>;
