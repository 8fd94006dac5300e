//! Histogram-based gradient-boosted regression trees (squared loss), single-threaded and deterministic.
//!
//! Features are cut into at most `bins` quantile bins once; each tree grows depth-first to `max_depth` from
//! per-node histograms of residual sums (the larger child's histogram is the parent's minus the smaller's).
//! Rows and features are subsampled per tree from a seeded [`Rng`]. Leaves are stored as `f32`.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Boosting hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GbmParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of a tree (root at depth 0).
    pub max_depth: usize,
    /// Shrinkage applied to every leaf.
    pub learning_rate: f64,
    /// Minimum number of (sampled) rows in a leaf.
    pub min_leaf: usize,
    /// L2 regularisation of leaf values.
    pub lambda: f64,
    /// Fraction of rows drawn (Bernoulli) for each tree.
    pub subsample: f64,
    /// Fraction of features drawn for each tree.
    pub colsample: f64,
    /// Maximum number of bins per feature (≤ 256).
    pub bins: usize,
}

impl Default for GbmParams {
    fn default() -> Self {
        GbmParams {
            trees: 500,
            max_depth: 3,
            learning_rate: 0.05,
            min_leaf: 40,
            lambda: 1.0,
            subsample: 0.7,
            colsample: 0.6,
            bins: 64,
        }
    }
}

/// Quantile bin edges per feature, from a row-major matrix with `features` columns.
/// A value `v` falls in bin `#{edges < v}`, so `v <= edges[b]` exactly when its bin is at most `b`.
pub fn fit_edges(x: &[f64], features: usize, bins: usize) -> Vec<Vec<f64>> {
    let n = x.len() / features.max(1);
    let bins = bins.clamp(2, 256);
    (0..features)
        .map(|f| {
            let mut col: Vec<f64> = (0..n).map(|i| x[i * features + f]).collect();
            col.sort_by(f64::total_cmp);
            let mut edges: Vec<f64> = Vec::new();
            for k in 1..bins {
                let v = col[(k * n) / bins];
                if edges.last().is_none_or(|&e| v > e) && v < col[n - 1] {
                    edges.push(v);
                }
            }
            edges
        })
        .collect()
}

/// Bin index of `v` under `edges`.
pub fn bin_of(edges: &[f64], v: f64) -> u8 {
    edges.partition_point(|&e| e < v) as u8
}

/// Column-major binned copy of a row-major matrix.
pub fn bin_matrix(x: &[f64], features: usize, edges: &[Vec<f64>]) -> Vec<Vec<u8>> {
    let n = x.len() / features.max(1);
    (0..features).map(|f| (0..n).map(|i| bin_of(&edges[f], x[i * features + f])).collect()).collect()
}

/// One regression tree. `splits[k] = (feature, bin, left, right)`; a child `c >= 0` is split `c`, a child
/// `c < 0` is leaf `!c`. A tree without splits is the single leaf 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Internal nodes, root first.
    pub splits: Vec<(u16, u8, i32, i32)>,
    /// Leaf values (already shrunk by the learning rate).
    pub leaves: Vec<f32>,
}

impl Tree {
    fn walk(&self, left: impl Fn(usize, u8) -> bool) -> f32 {
        if self.splits.is_empty() {
            return self.leaves[0];
        }
        let mut node = 0usize;
        loop {
            let (f, b, l, r) = self.splits[node];
            let next = if left(f as usize, b) { l } else { r };
            if next < 0 {
                return self.leaves[!next as usize];
            }
            node = next as usize;
        }
    }

    /// Value for one feature row.
    pub fn predict(&self, x: &[f64], edges: &[Vec<f64>]) -> f32 {
        self.walk(|f, b| x[f] <= edges[f][b as usize])
    }

    fn predict_binned(&self, cols: &[Vec<u8>], i: usize) -> f32 {
        self.walk(|f, b| cols[f][i] <= b)
    }

    /// Checks that every reference points inside the tree and every split inside `edges`.
    pub fn validate(&self, edges: &[Vec<f64>]) -> Result<(), String> {
        let child_ok =
            |c: i32| if c < 0 { (!c as usize) < self.leaves.len() } else { (c as usize) < self.splits.len() };
        if self.leaves.is_empty() {
            return Err("tree without leaves".into());
        }
        for (k, &(f, b, l, r)) in self.splits.iter().enumerate() {
            let ok = edges.get(f as usize).is_some_and(|e| (b as usize) < e.len())
                && child_ok(l)
                && child_ok(r)
                && (l < 0 || l as usize > k)
                && (r < 0 || r as usize > k);
            if !ok {
                return Err(format!("bad split {k}: ({f}, {b}, {l}, {r})"));
            }
        }
        Ok(())
    }
}

/// A boosted ensemble: `base + sum(trees)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booster {
    /// Seed it was trained with.
    pub seed: u64,
    /// Initial prediction (mean target).
    pub base: f64,
    /// The trees in boosting order.
    pub trees: Vec<Tree>,
}

impl Booster {
    /// Prediction for one feature row.
    pub fn predict(&self, x: &[f64], edges: &[Vec<f64>]) -> f64 {
        self.trees.iter().fold(self.base, |s, t| s + t.predict(x, edges) as f64)
    }
}

struct Hist {
    sum: Vec<f64>,
    cnt: Vec<u32>,
}

struct Grower<'a> {
    cols: &'a [Vec<u8>],
    nbins: &'a [usize],
    offsets: &'a [usize],
    total: usize,
    grad: &'a [f64],
    feats: Vec<usize>,
    p: &'a GbmParams,
    tree: Tree,
}

impl Grower<'_> {
    fn hist(&self, rows: &[u32]) -> Hist {
        let mut h = Hist { sum: vec![0.0; self.total], cnt: vec![0; self.total] };
        for &f in &self.feats {
            let (col, off) = (&self.cols[f], self.offsets[f]);
            for &r in rows {
                let k = off + col[r as usize] as usize;
                h.sum[k] += self.grad[r as usize];
                h.cnt[k] += 1;
            }
        }
        h
    }

    fn leaf(&mut self, g: f64, n: usize) -> i32 {
        let v = (self.p.learning_rate * g / (n as f64 + self.p.lambda)) as f32;
        self.tree.leaves.push(v);
        !((self.tree.leaves.len() - 1) as i32)
    }

    fn grow(&mut self, rows: Vec<u32>, h: Hist, depth: usize) -> i32 {
        let n = rows.len();
        let g: f64 = rows.iter().map(|&r| self.grad[r as usize]).sum();
        let (min_leaf, lambda) = (self.p.min_leaf.max(1), self.p.lambda);
        if depth >= self.p.max_depth || n < 2 * min_leaf {
            return self.leaf(g, n);
        }
        let parent = g * g / (n as f64 + lambda);
        let mut best = (1e-9, usize::MAX, 0usize);
        for &f in &self.feats {
            let off = self.offsets[f];
            let (mut gl, mut nl) = (0.0, 0usize);
            for b in 0..self.nbins[f].saturating_sub(1) {
                gl += h.sum[off + b];
                nl += h.cnt[off + b] as usize;
                if nl < min_leaf {
                    continue;
                }
                let nr = n - nl;
                if nr < min_leaf {
                    break;
                }
                let gr = g - gl;
                let gain = gl * gl / (nl as f64 + lambda) + gr * gr / (nr as f64 + lambda) - parent;
                if gain > best.0 {
                    best = (gain, f, b);
                }
            }
        }
        let (_, f, b) = best;
        if f == usize::MAX {
            return self.leaf(g, n);
        }
        let col = &self.cols[f];
        let (left, right): (Vec<u32>, Vec<u32>) = rows.into_iter().partition(|&r| col[r as usize] as usize <= b);
        let small_is_left = left.len() <= right.len();
        let small = self.hist(if small_is_left { &left } else { &right });
        let large = Hist {
            sum: h.sum.iter().zip(&small.sum).map(|(a, s)| a - s).collect(),
            cnt: h.cnt.iter().zip(&small.cnt).map(|(a, s)| a - s).collect(),
        };
        let (hl, hr) = if small_is_left { (small, large) } else { (large, small) };
        let k = self.tree.splits.len();
        self.tree.splits.push((f as u16, b as u8, 0, 0));
        let l = self.grow(left, hl, depth + 1);
        let r = self.grow(right, hr, depth + 1);
        self.tree.splits[k].2 = l;
        self.tree.splits[k].3 = r;
        k as i32
    }
}

/// Trains a booster on binned columns `cols` (one `Vec<u8>` per feature) against targets `y`.
pub fn train_booster(cols: &[Vec<u8>], edges: &[Vec<f64>], y: &[f64], p: &GbmParams, seed: u64) -> Booster {
    let n = y.len();
    let nf = cols.len();
    let nbins: Vec<usize> = edges.iter().map(|e| e.len() + 1).collect();
    let mut offsets = Vec::with_capacity(nf);
    let mut total = 0;
    for &nb in &nbins {
        offsets.push(total);
        total += nb;
    }
    let base = y.iter().sum::<f64>() / n.max(1) as f64;
    let mut pred = vec![base; n];
    let mut grad = vec![0.0; n];
    let mut rng = Rng::new(seed);
    let take = ((p.colsample * nf as f64).ceil() as usize).clamp(1, nf.max(1));
    let mut trees = Vec::with_capacity(p.trees);
    for _ in 0..p.trees {
        for i in 0..n {
            grad[i] = y[i] - pred[i];
        }
        let rows: Vec<u32> = (0..n as u32).filter(|_| rng.next_f64() < p.subsample).collect();
        let mut all: Vec<usize> = (0..nf).collect();
        for i in 0..take {
            let j = rng.range(i, nf - 1);
            all.swap(i, j);
        }
        let mut feats = all[..take].to_vec();
        feats.sort_unstable();
        let mut g = Grower {
            cols,
            nbins: &nbins,
            offsets: &offsets,
            total,
            grad: &grad,
            feats,
            p,
            tree: Tree { splits: Vec::new(), leaves: Vec::new() },
        };
        let h = g.hist(&rows);
        g.grow(rows, h, 0);
        let tree = g.tree;
        for (i, v) in pred.iter_mut().enumerate() {
            *v += tree.predict_binned(cols, i) as f64;
        }
        trees.push(tree);
    }
    Booster { seed, base, trees }
}
