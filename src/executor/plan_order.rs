//! The queue order: which configuration the executor offers the free devices
//! first.
//!
//! The executor's policy is fixed and simple (start the first queued job that
//! fits the free devices, again at every finish); only the queue's order is
//! ours to choose. So the planner simulates that very policy over candidate
//! orders fed with estimated durations and keeps the order with the shortest
//! simulated makespan. Today's order (largest GPU count first) is always a
//! candidate and wins ties, so under the estimates the chosen order is never
//! worse than it. Pure: no clock, no I/O.

/// One job to place: its GPU count and its estimated wall seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Task {
    pub gpus: u32,
    pub seconds: f64,
}

/// What the jobs are packed onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Devices to pack onto.
    pub devices: usize,
    /// Most jobs at once (`--jobs`, 1 for `--serial`).
    pub jobs: usize,
}

/// How the chosen order was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Largest GPU count first, matrix order among equals (compat's order
    /// before planning; kept on ties).
    LargestFirst,
    /// Longest estimated duration first (LPT).
    LongestFirst,
    /// Most estimated GPU-seconds first.
    MostGpuSeconds,
    /// Every order tried (few jobs).
    Exhaustive,
    /// Pairwise swaps from the best of the above, while they helped.
    LocalSearch,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LargestFirst => "largest GPU count first",
            Strategy::LongestFirst => "longest first",
            Strategy::MostGpuSeconds => "most GPU-seconds first",
            Strategy::Exhaustive => "best of every order",
            Strategy::LocalSearch => "local search",
        }
    }
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Indices into the tasks, in queue order.
    pub order: Vec<usize>,
    pub strategy: Strategy,
    /// Simulated makespan of `order`.
    pub makespan: f64,
    /// Simulated makespan of largest-first.
    pub largest_first: f64,
    /// max(longest job, GPU-seconds / devices): no order beats it.
    pub lower_bound: f64,
}

/// Every order is tried up to this many jobs (8! = 40,320 simulations).
const EXHAUSTIVE_MAX: usize = 8;
/// Simulations the local search may spend beyond that.
const SEARCH_BUDGET: usize = 20_000;

/// Whether a job can ever run on the node.
fn placeable(t: &Task, node: Node) -> bool {
    t.gpus as usize <= node.devices
}

/// The makespan of the executor's greedy policy (schedule.rs) with the queue
/// in `order`: at the start and after each finish, start the first queued job
/// that fits the free devices, repeatedly, while fewer than `node.jobs` run.
/// Finishes are handled one at a time, as the executor does. Jobs that can
/// never fit are left out (the executor fails them without running them).
pub fn simulate(tasks: &[Task], order: &[usize], node: Node) -> f64 {
    let mut queue: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| placeable(&tasks[i], node))
        .collect();
    let mut free = node.devices;
    // (finish time, start sequence, gpus): the earliest finish first, ties
    // in start order.
    let mut running: Vec<(f64, usize, usize)> = Vec::new();
    let (mut now, mut seq) = (0.0_f64, 0_usize);
    loop {
        while running.len() < node.jobs.max(1) {
            let Some(pos) = queue.iter().position(|&i| tasks[i].gpus as usize <= free) else {
                break;
            };
            let t = tasks[queue.remove(pos)];
            free -= t.gpus as usize;
            running.push((now + t.seconds.max(0.0), seq, t.gpus as usize));
            seq += 1;
        }
        let Some(next) = running
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.0.total_cmp(&b.1.0).then(a.1.1.cmp(&b.1.1)))
            .map(|(k, _)| k)
        else {
            return now;
        };
        let (end, _, gpus) = running.swap_remove(next);
        now = now.max(end);
        free += gpus;
    }
}

/// max(longest job, GPU-seconds / devices) over the placeable jobs.
pub fn lower_bound(tasks: &[Task], node: Node) -> f64 {
    let ok = tasks.iter().filter(|t| placeable(t, node));
    let (longest, area) = ok.fold((0.0_f64, 0.0_f64), |(l, a), t| {
        (l.max(t.seconds), a + t.seconds * f64::from(t.gpus))
    });
    longest.max(area / node.devices.max(1) as f64)
}

/// Largest GPU count first, stable.
pub fn largest_first(tasks: &[Task]) -> Vec<usize> {
    let mut o: Vec<usize> = (0..tasks.len()).collect();
    o.sort_by_key(|&i| std::cmp::Reverse(tasks[i].gpus));
    o
}

/// Sorted by `key` descending, stable (largest-first order among equals).
fn descending_by(tasks: &[Task], key: impl Fn(&Task) -> f64) -> Vec<usize> {
    let mut o = largest_first(tasks);
    o.sort_by(|&a, &b| key(&tasks[b]).total_cmp(&key(&tasks[a])));
    o
}

/// Chooses the queue order with the shortest simulated makespan.
pub fn choose(tasks: &[Task], node: Node) -> Choice {
    let simulate = |o: &[usize]| simulate(tasks, o, node);
    let today = largest_first(tasks);
    let mut best = (today.clone(), Strategy::LargestFirst, simulate(&today));
    let largest = best.2;
    // Strictly shorter only: a tie keeps the earlier (simpler) candidate.
    let better = |m: f64, than: f64| m < than - 1e-9 * than.abs().max(1.0);
    let offer = |o: Vec<usize>, s: Strategy, best: &mut (Vec<usize>, Strategy, f64)| {
        let m = simulate(&o);
        if better(m, best.2) {
            *best = (o, s, m);
        }
    };
    offer(
        descending_by(tasks, |t| t.seconds),
        Strategy::LongestFirst,
        &mut best,
    );
    offer(
        descending_by(tasks, |t| t.seconds * f64::from(t.gpus)),
        Strategy::MostGpuSeconds,
        &mut best,
    );
    if tasks.len() <= EXHAUSTIVE_MAX {
        let mut perm: Vec<usize> = (0..tasks.len()).collect();
        loop {
            offer(perm.clone(), Strategy::Exhaustive, &mut best);
            if !next_permutation(&mut perm) {
                break;
            }
        }
    } else {
        local_search(&mut best, &simulate, better);
    }
    Choice {
        order: best.0,
        strategy: best.1,
        makespan: best.2,
        largest_first: largest,
        lower_bound: lower_bound(tasks, node),
    }
}

/// Pairwise swaps from `best`, first improvement, until none helps or the
/// budget is spent.
fn local_search(
    best: &mut (Vec<usize>, Strategy, f64),
    simulate: &impl Fn(&[usize]) -> f64,
    better: impl Fn(f64, f64) -> bool,
) {
    let n = best.0.len();
    let mut spent = 0;
    let mut improved = true;
    while improved && spent < SEARCH_BUDGET {
        improved = false;
        'pairs: for i in 0..n {
            for j in i + 1..n {
                if spent >= SEARCH_BUDGET {
                    break 'pairs;
                }
                let mut o = best.0.clone();
                o.swap(i, j);
                let m = simulate(&o);
                spent += 1;
                if better(m, best.2) {
                    *best = (o, Strategy::LocalSearch, m);
                    improved = true;
                }
            }
        }
    }
}

/// The next permutation in lexicographic order; false after the last.
fn next_permutation(p: &mut [usize]) -> bool {
    let Some(i) = (1..p.len()).rev().find(|&i| p[i - 1] < p[i]) else {
        return false;
    };
    let j = (i..p.len()).rev().find(|&j| p[j] > p[i - 1]).unwrap_or(i);
    p.swap(i - 1, j);
    p[i..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NODE: Node = Node {
        devices: 4,
        jobs: usize::MAX,
    };

    fn t(gpus: u32, seconds: f64) -> Task {
        Task { gpus, seconds }
    }

    /// The issue's node: baseline (1 GPU, slowest), cfg_parallel and its two
    /// caches (2 GPUs), three 4-GPU pairs; a 2 s load in every one.
    fn issue_case() -> Vec<Task> {
        vec![
            t(1, 2.0 + 10.0),
            t(2, 2.0 + 5.0),
            t(2, 2.0 + 3.1),
            t(2, 2.0 + 3.1),
            t(4, 2.0 + 2.5),
            t(4, 2.0 + 2.5),
            t(4, 2.0 + 2.5),
        ]
    }

    fn brute_force_best(tasks: &[Task], node: Node) -> f64 {
        let mut p: Vec<usize> = (0..tasks.len()).collect();
        let mut best = f64::INFINITY;
        loop {
            best = best.min(simulate(tasks, &p, node));
            if !next_permutation(&mut p) {
                return best;
            }
        }
    }

    #[test]
    fn the_slow_baseline_starts_last_today_and_first_once_planned() {
        let tasks = issue_case();
        let today = largest_first(&tasks);
        assert_eq!(
            today.last(),
            Some(&0),
            "largest first puts the 1-GPU baseline last"
        );
        // Today: 3 × 4.5 s of 4-GPU jobs, then the 2-GPU ones and the
        // baseline, which then runs 12 s nearly alone.
        let before = simulate(&tasks, &today, NODE);
        let c = choose(&tasks, NODE);
        assert_eq!(c.largest_first, before);
        assert!(c.makespan < before - 1.0, "{} vs {before}", c.makespan);
        assert_eq!(c.order[0], 0, "the baseline starts first: {:?}", c.order);
        assert!((c.makespan - brute_force_best(&tasks, NODE)).abs() < 1e-9);
        assert!(c.makespan >= c.lower_bound - 1e-9);
    }

    #[test]
    fn longest_first_alone_fixes_the_issue_case() {
        let tasks = issue_case();
        let lpt = descending_by(&tasks, |t| t.seconds);
        assert_eq!(lpt[0], 0);
        let best = brute_force_best(&tasks, NODE);
        assert!(simulate(&tasks, &lpt, NODE) <= best * 1.02);
        assert!(simulate(&tasks, &lpt, NODE) < simulate(&tasks, &largest_first(&tasks), NODE));
    }

    #[test]
    fn simulation_follows_the_first_that_fits_policy() {
        // 3 devices: the 2-GPU job starts, the 2nd 2-GPU job does not fit,
        // the 1-GPU job behind it does.
        let node = Node {
            devices: 3,
            jobs: usize::MAX,
        };
        let tasks = [t(2, 5.0), t(2, 5.0), t(1, 1.0)];
        assert_eq!(simulate(&tasks, &[0, 1, 2], node), 10.0);
        // Serial: the sum.
        let serial = Node {
            devices: 3,
            jobs: 1,
        };
        assert_eq!(simulate(&tasks, &[0, 1, 2], serial), 11.0);
        // A job that can never fit is left out.
        assert_eq!(simulate(&[t(8, 100.0), t(1, 1.0)], &[0, 1], node), 1.0);
        assert_eq!(simulate(&[], &[], node), 0.0);
    }

    #[test]
    fn ties_keep_largest_first() {
        let tasks = vec![t(2, 3.0), t(1, 3.0), t(1, 3.0)];
        let node = Node {
            devices: 2,
            jobs: usize::MAX,
        };
        let c = choose(&tasks, node);
        assert_eq!(c.strategy, super::Strategy::LargestFirst);
        assert_eq!(c.order, largest_first(&tasks));
    }

    #[test]
    fn many_jobs_use_the_local_search_and_stay_within_reach() {
        let mut tasks = issue_case();
        tasks.extend(issue_case());
        let c = choose(&tasks, NODE);
        assert!(c.makespan <= c.largest_first);
        assert!(c.makespan >= c.lower_bound - 1e-9);
        let mut sorted = c.order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..tasks.len()).collect::<Vec<_>>());
    }

    #[test]
    fn permutations_are_all_visited() {
        let mut p = vec![0, 1, 2, 3];
        let mut n = 1;
        while next_permutation(&mut p) {
            n += 1;
        }
        assert_eq!(n, 24);
        assert_eq!(p, vec![3, 2, 1, 0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn the_chosen_order_is_never_worse_than_largest_first(
            jobs in prop::collection::vec((1u32..=4, 0.1f64..50.0), 0..11),
            devices in 1usize..=4,
            limit in 1usize..=4,
        ) {
            let tasks: Vec<Task> = jobs.iter().map(|&(g, s)| t(g, s)).collect();
            let node = Node { devices, jobs: limit };
            let c = choose(&tasks, node);
            prop_assert!(c.makespan <= simulate(&tasks, &largest_first(&tasks), node) + 1e-9);
            prop_assert!((simulate(&tasks, &c.order, node) - c.makespan).abs() < 1e-9);
            prop_assert!(c.makespan + 1e-9 >= c.lower_bound);
            let mut sorted = c.order.clone();
            sorted.sort();
            prop_assert_eq!(sorted, (0..tasks.len()).collect::<Vec<_>>());
        }
    }
}
