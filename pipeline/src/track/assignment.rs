//! Optimal linear assignment with a cost threshold.
//!
//! Given a cost matrix (rows are tracks, columns are detections, say) and a
//! threshold, [`AssignmentSolver::solve`] picks the set of disjoint
//! (row, column) pairs that minimises the total cost, where a pair may only be
//! chosen if its cost is at most the threshold, and leaving a row and a column
//! unmatched costs the threshold. Equivalently it maximises
//! `Σ (max_cost − cost)` over the chosen pairs: a pair is taken only when it
//! beats leaving both sides unmatched, and a cheap pair is never displaced by
//! a forbidden one. This is the objective of `lapjv` with a cost limit, which
//! ByteTrack uses. Among equally good answers, more pairs win, so a pair that
//! costs exactly the threshold is taken when nothing else wants its row or
//! column.
//!
//! The solver is the shortest-augmenting-path form of the Hungarian method
//! (Kuhn–Munkres with row and column potentials, as in Jonker–Volgenant),
//! O(n²·(n + m)) for n = min(rows, cols). The threshold is built in by giving
//! every row n extra "unmatched" columns that cost the threshold, so every row
//! always has a finite way out and the matrix never needs padding to square.
//! All working memory lives in the solver and is reused between calls.

/// A dense, row-major cost matrix whose storage is reused between frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostMatrix {
    rows: usize,
    cols: usize,
    costs: Vec<f32>,
}

impl CostMatrix {
    /// An empty 0×0 matrix.
    pub fn new() -> Self {
        Self::default()
    }

    /// A matrix from row-major costs.
    ///
    /// # Panics
    /// If `costs.len() != rows * cols`.
    pub fn from_vec(rows: usize, cols: usize, costs: Vec<f32>) -> Self {
        assert_eq!(costs.len(), rows * cols, "a {rows}×{cols} cost matrix needs {} costs", rows * cols);
        Self { rows, cols, costs }
    }

    /// Resizes to `rows × cols` with every cost set to `fill`, keeping the
    /// allocation when it is large enough.
    pub fn reset(&mut self, rows: usize, cols: usize, fill: f32) {
        self.rows = rows;
        self.cols = cols;
        self.costs.clear();
        self.costs.resize(rows * cols, fill);
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The cost of pairing `row` with `col`.
    pub fn get(&self, row: usize, col: usize) -> f32 {
        self.costs[row * self.cols + col]
    }

    /// Sets the cost of pairing `row` with `col`.
    pub fn set(&mut self, row: usize, col: usize, cost: f32) {
        self.costs[row * self.cols + col] = cost;
    }

    /// The costs of one row, to fill in place.
    pub fn row_mut(&mut self, row: usize) -> &mut [f32] {
        &mut self.costs[row * self.cols..(row + 1) * self.cols]
    }
}

/// The result of one [`AssignmentSolver::solve`] call, borrowed from the solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment<'a> {
    /// Chosen `(row, col)` pairs, in increasing row order.
    pub matches: &'a [(usize, usize)],
    /// Rows left unmatched, in increasing order.
    pub unmatched_rows: &'a [usize],
    /// Columns left unmatched, in increasing order.
    pub unmatched_cols: &'a [usize],
}

/// Marks a column with no row assigned.
const NONE: usize = usize::MAX;

/// Solves thresholded linear assignment problems, reusing its working memory.
#[derive(Debug, Clone, Default)]
pub struct AssignmentSolver {
    /// Potentials of the rows and of the columns (one extra: the root).
    row_potential: Vec<f64>,
    col_potential: Vec<f64>,
    /// Row assigned to each column; `NONE` if free.
    col_row: Vec<usize>,
    /// Previous column on the shortest path to each column.
    way: Vec<usize>,
    min_slack: Vec<f64>,
    visited: Vec<bool>,
    row_matched: Vec<bool>,
    col_matched: Vec<bool>,
    matches: Vec<(usize, usize)>,
    unmatched_rows: Vec<usize>,
    unmatched_cols: Vec<usize>,
}

impl AssignmentSolver {
    /// A solver with no memory reserved yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Finds the optimal assignment of `costs` in which no chosen pair costs
    /// more than `max_cost` (see the module documentation for the objective).
    ///
    /// Costs that are NaN or infinite are never chosen. A `max_cost` of
    /// `+∞` means "no threshold": as many pairs as possible, then the
    /// cheapest such set. A NaN or `−∞` threshold matches nothing. Keep a
    /// finite `max_cost` on the scale of the costs: the arithmetic is in
    /// `f64`, and a threshold many orders of magnitude larger than the costs
    /// would swamp their differences.
    pub fn solve(&mut self, costs: &CostMatrix, max_cost: f32) -> Assignment<'_> {
        self.matches.clear();
        self.unmatched_rows.clear();
        self.unmatched_cols.clear();
        let allowed = |c: f32| c.is_finite() && c <= max_cost;

        let unmatched_cost = if max_cost.is_finite() {
            Some(f64::from(max_cost))
        } else if max_cost == f32::INFINITY {
            // Large enough that one more pair always beats any saving in cost.
            let largest =
                costs.costs.iter().copied().filter(|&c| allowed(c)).map(|c| f64::from(c).abs()).fold(0.0, f64::max);
            let n = costs.rows.min(costs.cols) as f64;
            Some((2.0 * n + 1.0) * largest + 1.0)
        } else {
            None
        };

        if let (Some(unmatched_cost), true) = (unmatched_cost, costs.rows > 0 && costs.cols > 0) {
            // A small bonus per pair breaks ties towards more pairs.
            let unmatched_cost = unmatched_cost + 1e-9 * unmatched_cost.abs().max(1.0);
            // Work on the orientation with fewer rows: the cost is cubic in them.
            let transposed = costs.rows > costs.cols;
            let (n, m) = if transposed { (costs.cols, costs.rows) } else { (costs.rows, costs.cols) };
            let cost = |i: usize, j: usize| -> f64 {
                if j >= m {
                    return unmatched_cost;
                }
                let c = if transposed { costs.get(j, i) } else { costs.get(i, j) };
                if allowed(c) { f64::from(c) } else { f64::INFINITY }
            };
            self.shortest_augmenting_paths(n, m + n, cost);

            for j in 0..m {
                let i = self.col_row[j];
                if i != NONE {
                    self.matches.push(if transposed { (j, i) } else { (i, j) });
                }
            }
            if !transposed {
                self.matches.sort_unstable();
            }
        }

        self.row_matched.clear();
        self.row_matched.resize(costs.rows, false);
        self.col_matched.clear();
        self.col_matched.resize(costs.cols, false);
        for &(r, c) in &self.matches {
            debug_assert!(allowed(costs.get(r, c)));
            self.row_matched[r] = true;
            self.col_matched[c] = true;
        }
        self.unmatched_rows.extend((0..costs.rows).filter(|&r| !self.row_matched[r]));
        self.unmatched_cols.extend((0..costs.cols).filter(|&c| !self.col_matched[c]));

        Assignment {
            matches: &self.matches,
            unmatched_rows: &self.unmatched_rows,
            unmatched_cols: &self.unmatched_cols,
        }
    }

    /// Hungarian method for an `n × m` problem with `n ≤ m` in which every row
    /// has a finite cost to at least `n` columns; leaves the assignment in
    /// `col_row`. Column `m` is the root of each search: it holds the row
    /// being added.
    fn shortest_augmenting_paths(&mut self, n: usize, m: usize, cost: impl Fn(usize, usize) -> f64) {
        let root = m;
        reset(&mut self.row_potential, n, 0.0);
        reset(&mut self.col_potential, m + 1, 0.0);
        reset(&mut self.col_row, m + 1, NONE);
        reset(&mut self.way, m + 1, root);
        reset(&mut self.min_slack, m, f64::INFINITY);
        reset(&mut self.visited, m + 1, false);

        for row in 0..n {
            self.col_row[root] = row;
            self.min_slack.fill(f64::INFINITY);
            self.visited.fill(false);
            let mut j0 = root;
            // Grow a tree of tight edges (Dijkstra on reduced costs) until it
            // reaches a free column.
            loop {
                self.visited[j0] = true;
                let i0 = self.col_row[j0];
                let mut delta = f64::INFINITY;
                let mut j1 = NONE;
                for j in 0..m {
                    if self.visited[j] {
                        continue;
                    }
                    let slack = cost(i0, j) - self.row_potential[i0] - self.col_potential[j];
                    if slack < self.min_slack[j] {
                        self.min_slack[j] = slack;
                        self.way[j] = j0;
                    }
                    if self.min_slack[j] < delta {
                        delta = self.min_slack[j];
                        j1 = j;
                    }
                }
                // Every row reaches the unmatched columns at a finite cost, and
                // the tree holds fewer rows than there are of those columns.
                debug_assert!(j1 != NONE, "no finite augmenting path");
                for j in 0..=m {
                    if self.visited[j] {
                        self.row_potential[self.col_row[j]] += delta;
                        self.col_potential[j] -= delta;
                    } else {
                        self.min_slack[j] -= delta;
                    }
                }
                j0 = j1;
                if self.col_row[j0] == NONE {
                    break;
                }
            }
            // Flip the path from the root to the free column.
            while j0 != root {
                let prev = self.way[j0];
                self.col_row[j0] = self.col_row[prev];
                j0 = prev;
            }
        }
    }
}

fn reset<T: Copy>(v: &mut Vec<T>, len: usize, value: T) {
    v.clear();
    v.resize(len, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Best achievable `Σ (max_cost − cost)` by trying every partial matching.
    fn brute_force_gain(costs: &CostMatrix, max_cost: f32) -> f64 {
        fn go(costs: &CostMatrix, max_cost: f32, row: usize, used: &mut Vec<bool>) -> f64 {
            if row == costs.rows() {
                return 0.0;
            }
            let mut best = go(costs, max_cost, row + 1, used);
            for col in 0..costs.cols() {
                let c = costs.get(row, col);
                if !used[col] && c.is_finite() && c <= max_cost {
                    used[col] = true;
                    let gain = f64::from(max_cost) - f64::from(c) + go(costs, max_cost, row + 1, used);
                    used[col] = false;
                    best = best.max(gain);
                }
            }
            best
        }
        go(costs, max_cost, 0, &mut vec![false; costs.cols()])
    }

    fn gain(costs: &CostMatrix, max_cost: f32, a: &Assignment<'_>) -> f64 {
        a.matches.iter().map(|&(r, c)| f64::from(max_cost) - f64::from(costs.get(r, c))).sum()
    }

    /// Structural checks that hold for any answer.
    fn check_consistent(costs: &CostMatrix, max_cost: f32, a: &Assignment<'_>) {
        let mut rows = vec![0; costs.rows()];
        let mut cols = vec![0; costs.cols()];
        for &(r, c) in a.matches {
            let cost = costs.get(r, c);
            assert!(cost.is_finite() && cost <= max_cost, "pair ({r}, {c}) costs {cost} > {max_cost}");
            rows[r] += 1;
            cols[c] += 1;
        }
        for &r in a.unmatched_rows {
            rows[r] += 1;
        }
        for &c in a.unmatched_cols {
            cols[c] += 1;
        }
        assert!(rows.iter().all(|&n| n == 1), "every row exactly once: {rows:?}");
        assert!(cols.iter().all(|&n| n == 1), "every column exactly once: {cols:?}");
        assert!(a.matches.windows(2).all(|w| w[0].0 < w[1].0), "matches sorted by row");
        assert!(a.unmatched_rows.is_sorted() && a.unmatched_cols.is_sorted());
    }

    #[test]
    fn empty_and_degenerate_shapes() {
        let mut solver = AssignmentSolver::new();
        for (rows, cols) in [(0, 0), (0, 3), (3, 0)] {
            let costs = CostMatrix::from_vec(rows, cols, vec![]);
            let a = solver.solve(&costs, 1.0);
            assert!(a.matches.is_empty());
            assert_eq!(a.unmatched_rows, (0..rows).collect::<Vec<_>>());
            assert_eq!(a.unmatched_cols, (0..cols).collect::<Vec<_>>());
        }
    }

    #[test]
    fn picks_the_global_optimum_not_the_greedy_one() {
        // Greedy takes (0,0) at 0.1 and then must pay 0.9 for (1,1); the
        // optimum pays 0.2 + 0.2.
        let costs = CostMatrix::from_vec(2, 2, vec![0.1, 0.2, 0.2, 0.9]);
        let mut solver = AssignmentSolver::new();
        assert_eq!(solver.solve(&costs, 1.0).matches, &[(0, 1), (1, 0)]);
    }

    #[test]
    fn pairs_above_the_threshold_stay_unmatched() {
        let costs = CostMatrix::from_vec(2, 3, vec![0.9, 0.3, 0.95, 0.85, 0.99, 0.81]);
        let mut solver = AssignmentSolver::new();
        let a = solver.solve(&costs, 0.8);
        assert_eq!(a.matches, &[(0, 1)]);
        assert_eq!(a.unmatched_rows, &[1]);
        assert_eq!(a.unmatched_cols, &[0, 2]);
    }

    #[test]
    fn a_cheap_pair_is_not_displaced_to_make_room_for_an_expensive_one() {
        // At max_cost 0.7 only row 0 can match, and it keeps its cheap column.
        let costs = CostMatrix::from_vec(2, 2, vec![0.1, 0.6, 0.9, 2.0]);
        let mut solver = AssignmentSolver::new();
        assert_eq!(solver.solve(&costs, 0.7).matches, &[(0, 0)]);
        // At 1.0, (1,0) becomes allowed, but moving row 0 to make room for it
        // gains 0.4 + 0.1 against 0.9 for (0,0) alone.
        assert_eq!(solver.solve(&costs, 1.0).matches, &[(0, 0)]);
    }

    #[test]
    fn rectangular_both_ways() {
        let wide = CostMatrix::from_vec(2, 4, vec![0.5, 0.4, 0.1, 0.9, 0.2, 0.8, 0.3, 0.7]);
        let mut solver = AssignmentSolver::new();
        assert_eq!(solver.solve(&wide, 1.0).matches, &[(0, 2), (1, 0)]);
        let tall = CostMatrix::from_vec(4, 2, vec![0.5, 0.2, 0.4, 0.8, 0.1, 0.3, 0.9, 0.7]);
        let a = solver.solve(&tall, 1.0);
        assert_eq!(a.matches, &[(0, 1), (2, 0)]);
        assert_eq!(a.unmatched_rows, &[1, 3]);
        assert!(a.unmatched_cols.is_empty());
    }

    #[test]
    fn non_finite_costs_are_never_chosen() {
        let costs = CostMatrix::from_vec(2, 2, vec![f32::NAN, 0.5, f32::INFINITY, f32::NEG_INFINITY]);
        let mut solver = AssignmentSolver::new();
        let a = solver.solve(&costs, 1.0);
        assert_eq!(a.matches, &[(0, 1)]);
        let a = solver.solve(&costs, f32::INFINITY);
        assert_eq!(a.matches, &[(0, 1)]);
    }

    #[test]
    fn infinite_threshold_maximises_the_number_of_pairs_first() {
        // One pair at 0.0 or two pairs at 50 each: with no threshold, two pairs.
        let costs = CostMatrix::from_vec(2, 2, vec![0.0, 50.0, 50.0, f32::NAN]);
        let mut solver = AssignmentSolver::new();
        assert_eq!(solver.solve(&costs, f32::INFINITY).matches, &[(0, 1), (1, 0)]);
        assert!(solver.solve(&costs, f32::NAN).matches.is_empty());
        assert!(solver.solve(&costs, f32::NEG_INFINITY).matches.is_empty());
    }

    #[test]
    fn a_pair_exactly_at_the_threshold_is_taken() {
        let costs = CostMatrix::from_vec(1, 1, vec![0.8]);
        let mut solver = AssignmentSolver::new();
        assert_eq!(solver.solve(&costs, 0.8).matches, &[(0, 0)]);
    }

    #[test]
    fn reuse_across_shapes() {
        let mut solver = AssignmentSolver::new();
        let big = CostMatrix::from_vec(3, 3, vec![0.1, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.1]);
        assert_eq!(solver.solve(&big, 0.5).matches, &[(0, 0), (1, 1), (2, 2)]);
        let small = CostMatrix::from_vec(1, 2, vec![0.9, 0.2]);
        assert_eq!(solver.solve(&small, 0.5).matches, &[(0, 1)]);
    }

    fn matrix() -> impl Strategy<Value = CostMatrix> {
        (0usize..=5, 0usize..=5).prop_flat_map(|(rows, cols)| {
            // A few repeated values make ties common; a few forbidden entries.
            let cell = prop_oneof![
                8 => -1.0f32..2.0,
                2 => prop::sample::select(vec![0.0f32, 0.5, 1.0]),
                1 => Just(f32::NAN),
                1 => Just(f32::INFINITY),
            ];
            prop::collection::vec(cell, rows * cols).prop_map(move |costs| CostMatrix::from_vec(rows, cols, costs))
        })
    }

    proptest! {
        #[test]
        fn optimal_against_brute_force(costs in matrix(), max_cost in prop_oneof![-0.5f32..1.5, Just(0.5f32)]) {
            let mut solver = AssignmentSolver::new();
            let expected = brute_force_gain(&costs, max_cost);
            let a = solver.solve(&costs, max_cost);
            check_consistent(&costs, max_cost, &a);
            let got = gain(&costs, max_cost, &a);
            prop_assert!((got - expected).abs() < 1e-5, "gain {got} vs best {expected}");
        }

        #[test]
        fn transposing_gives_the_same_gain(costs in matrix(), max_cost in -0.5f32..1.5) {
            let (rows, cols) = (costs.rows(), costs.cols());
            let t = CostMatrix::from_vec(cols, rows, (0..rows * cols).map(|k| costs.get(k % rows, k / rows)).collect());
            let mut solver = AssignmentSolver::new();
            let g = gain(&costs, max_cost, &solver.solve(&costs, max_cost));
            let gt = gain(&t, max_cost, &solver.solve(&t, max_cost));
            prop_assert!((g - gt).abs() < 1e-5);
        }

        #[test]
        fn larger_matrices_stay_consistent(
            (rows, cols, costs) in (0usize..40, 0usize..40)
                .prop_flat_map(|(r, c)| (Just(r), Just(c), prop::collection::vec(0.0f32..1.0, r * c))),
            max_cost in 0.0f32..1.0,
        ) {
            let costs = CostMatrix::from_vec(rows, cols, costs);
            let mut solver = AssignmentSolver::new();
            let a = solver.solve(&costs, max_cost);
            check_consistent(&costs, max_cost, &a);
        }
    }
}
