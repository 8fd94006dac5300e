//! Lower bounds on the number of stations: LB1 (total work), LB2/LB3 (large tasks, in sixths of a station),
//! Martello & Toth's L2 bin-packing bound, and earliest/latest station bounds from the precedence graph.

/// `ceil(a / b)`.
pub fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Weight of a task in sixths of a station for the LB2 (halves) and LB3 (thirds) bounds, the larger of the two
/// is used per set by summing each separately: returns `(w2, w3)`.
pub fn sixths(t: u64, c: u64) -> (u8, u8) {
    let w2 = if 2 * t > c {
        6
    } else if 2 * t == c {
        3
    } else {
        0
    };
    let w3 = if 3 * t > 2 * c {
        6
    } else if 3 * t == 2 * c {
        4
    } else if 3 * t > c {
        3
    } else if 3 * t == c {
        2
    } else {
        0
    };
    (w2, w3)
}

/// LB1, LB2 and LB3 of a set of task times.
pub fn lb123(times: &[u64], c: u64) -> u64 {
    let lb1 = ceil_div(times.iter().sum(), c);
    let (s2, s3) = times.iter().fold((0u64, 0u64), |(a, b), &t| {
        let (w2, w3) = sixths(t, c);
        (a + w2 as u64, b + w3 as u64)
    });
    lb1.max(ceil_div(s2, 6)).max(ceil_div(s3, 6))
}

/// Martello & Toth's L2 bound for bin packing with capacity `c`.
pub fn martello_toth_l2(times: &[u64], c: u64) -> u64 {
    let mut ts: Vec<u64> = times.to_vec();
    ts.sort_unstable();
    martello_toth_l2_sorted(&ts, c)
}

/// [`martello_toth_l2`] of times sorted in increasing order, in O(n log n) with prefix sums.
pub fn martello_toth_l2_sorted(ts: &[u64], c: u64) -> u64 {
    let mut prefix = Vec::with_capacity(ts.len() + 1);
    prefix.push(0u64);
    for &t in ts {
        prefix.push(prefix[prefix.len() - 1] + t);
    }
    let n = ts.len();
    let mut best = ceil_div(prefix[n], c);
    // Index of the first time above c/2, and of the first above c - k, etc. (ts is sorted).
    let half = ts.partition_point(|&t| 2 * t <= c);
    let mut last = None;
    for i in (0..half).rev().chain(std::iter::once(usize::MAX)) {
        let k = if i == usize::MAX { 0 } else { ts[i] };
        if last == Some(k) {
            continue;
        }
        last = Some(k);
        let big = ts.partition_point(|&t| t <= c - k).max(half);
        let n1 = (n - big) as u64;
        let n2 = (big - half) as u64;
        let s2 = prefix[big] - prefix[half];
        let lo = ts.partition_point(|&t| t < k);
        let s3 = prefix[half] - prefix[lo.min(half)];
        let free = n2 * c - s2;
        let extra = if s3 > free { ceil_div(s3 - free, c) } else { 0 };
        best = best.max(n1 + n2 + extra);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_on_small_sets() {
        // Three tasks of 6 with c = 10 need three stations although the work fits in two.
        assert_eq!(lb123(&[6, 6, 6], 10), 3);
        assert_eq!(martello_toth_l2(&[6, 6, 6], 10), 3);
        // Four tasks of 4 with c = 10: thirds bound gives ceil(4 * 3/6) = 2, total work 2.
        assert_eq!(lb123(&[4, 4, 4, 4], 10), 2);
        // 7,7,4,4,4 with c = 10: no 4 fits beside a 7, and three 4s need two stations: 4.
        assert_eq!(martello_toth_l2(&[7, 7, 4, 4, 4], 10), 4);
        assert_eq!(lb123(&[7, 7, 4, 4, 4], 10), 4);
    }
}
