//! A simple assembly line balancing instance: task times, precedence arcs, optional cycle time and zoning.

use crate::error::{FlowError, Result};

/// Zoning constraints between tasks (0-based task indices).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zoning {
    /// Pairs of tasks that must be done at the same station.
    pub together: Vec<(usize, usize)>,
    /// Pairs of tasks that must not be done at the same station.
    pub apart: Vec<(usize, usize)>,
}

impl Zoning {
    /// True when there are no zoning constraints.
    pub fn is_empty(&self) -> bool {
        self.together.is_empty() && self.apart.is_empty()
    }
}

/// A SALBP instance. Tasks are 0-based internally; files and reports number them from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Name (usually the file name).
    pub name: String,
    /// Task times, one per task.
    pub times: Vec<u64>,
    /// Precedence arcs `(before, after)`, 0-based.
    pub precedences: Vec<(usize, usize)>,
    /// The cycle time given in the file, if any (the .alb format carries one).
    pub cycle_time: Option<u64>,
    /// Zoning constraints.
    pub zoning: Zoning,
}

impl Instance {
    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True when the instance has no tasks.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Sum of all task times.
    pub fn total_time(&self) -> u64 {
        self.times.iter().sum()
    }

    /// Checks indices and that the precedence graph has no cycle.
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        let pairs = self
            .precedences
            .iter()
            .map(|p| ("precedence", p))
            .chain(self.zoning.together.iter().map(|p| ("zoning.together", p)))
            .chain(self.zoning.apart.iter().map(|p| ("zoning.apart", p)));
        for (what, &(a, b)) in pairs {
            if a >= n || b >= n {
                return Err(FlowError::invalid(
                    format!("{}: {what}", self.name),
                    format!("pair ({}, {}) names a task outside 1..={n}", a + 1, b + 1),
                ));
            }
            if a == b {
                return Err(FlowError::invalid(
                    format!("{}: {what}", self.name),
                    format!("task {} paired with itself", a + 1),
                ));
            }
        }
        if self.topological_order().is_none() {
            return Err(FlowError::invalid(format!("{}: precedence", self.name), "the precedence graph has a cycle"));
        }
        Ok(())
    }

    /// A topological order of the tasks (smallest index first among the ready ones), or None on a cycle.
    pub fn topological_order(&self) -> Option<Vec<usize>> {
        let n = self.len();
        let mut indeg = vec![0usize; n];
        let mut succ = vec![Vec::new(); n];
        for &(a, b) in &self.precedences {
            succ[a].push(b);
            indeg[b] += 1;
        }
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> =
            (0..n).filter(|&i| indeg[i] == 0).map(std::cmp::Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(std::cmp::Reverse(i)) = ready.pop() {
            order.push(i);
            for &j in &succ[i] {
                indeg[j] -= 1;
                if indeg[j] == 0 {
                    ready.push(std::cmp::Reverse(j));
                }
            }
        }
        (order.len() == n).then_some(order)
    }

    /// The same instance with every precedence arc reversed (balancing the line from its end).
    pub fn reversed(&self) -> Instance {
        Instance { precedences: self.precedences.iter().map(|&(a, b)| (b, a)).collect(), ..self.clone() }
    }
}
