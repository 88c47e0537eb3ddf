//! The multiple-choice knapsack behind Block-ReLU's patch sizes (Gorski, Jevnisek, Avidan,
//! "Securing neural networks with knapsack optimization", arXiv 2304.10442, §3): every group
//! (a channel of a ReLU layer) takes exactly one of its options (a patch shape), each with a
//! weight (the DReLUs it needs) and a value (minus the distortion it causes); maximise the total
//! value with the total weight within the budget. Solved exactly by dynamic programming over
//! the weight, O(groups × budget × options) time and O(groups × budget) memory for the choices.

/// One option of a group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Item {
    pub weight: usize,
    pub value: f64,
}

/// The best choice (one option index per group) within `budget`, and its total value; `None`
/// when even the lightest options exceed the budget (or a group has no option). Ties go to the
/// lighter total, then to the earlier option, so the result is deterministic.
pub fn solve(groups: &[Vec<Item>], budget: usize) -> Option<(Vec<usize>, f64)> {
    if groups.iter().any(|g| g.is_empty()) {
        return None;
    }
    let min: usize = groups
        .iter()
        .map(|g| g.iter().map(|i| i.weight).min().unwrap_or(0))
        .sum();
    if min > budget {
        return None;
    }
    // best[w]: the best value of the groups so far with total weight exactly w.
    let neg = f64::NEG_INFINITY;
    let mut best = vec![neg; budget + 1];
    best[0] = 0.0;
    let mut choice: Vec<Vec<u32>> = Vec::with_capacity(groups.len());
    for g in groups {
        let mut next = vec![neg; budget + 1];
        let mut pick = vec![u32::MAX; budget + 1];
        for (w, &b) in best.iter().enumerate() {
            if b == neg {
                continue;
            }
            for (o, item) in g.iter().enumerate() {
                let nw = w + item.weight;
                if nw > budget {
                    continue;
                }
                let v = b + item.value;
                if v > next[nw] {
                    next[nw] = v;
                    pick[nw] = o as u32;
                }
            }
        }
        best = next;
        choice.push(pick);
    }
    // The best reachable total weight (the lightest among equal values).
    let (mut w, value) = best.iter().enumerate().filter(|(_, v)| **v > neg).fold(
        None,
        |acc: Option<(usize, f64)>, (w, &v)| match acc {
            Some((_, bv)) if bv >= v => acc,
            _ => Some((w, v)),
        },
    )?;
    let mut picks = vec![0usize; groups.len()];
    for (gi, g) in groups.iter().enumerate().rev() {
        let o = choice[gi][w] as usize;
        picks[gi] = o;
        w -= g[o].weight;
    }
    Some((picks, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination, for small instances.
    fn brute(groups: &[Vec<Item>], budget: usize) -> Option<f64> {
        let mut best: Option<f64> = None;
        let mut idx = vec![0usize; groups.len()];
        loop {
            let w: usize = idx.iter().zip(groups).map(|(&i, g)| g[i].weight).sum();
            if w <= budget {
                let v: f64 = idx.iter().zip(groups).map(|(&i, g)| g[i].value).sum();
                best = Some(best.map_or(v, |b: f64| b.max(v)));
            }
            let mut k = 0;
            loop {
                if k == groups.len() {
                    return best;
                }
                idx[k] += 1;
                if idx[k] < groups[k].len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }

    #[test]
    fn equals_brute_force_on_random_instances_and_respects_the_budget() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |m: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        };
        for _ in 0..500 {
            let groups: Vec<Vec<Item>> = (0..1 + next(5))
                .map(|_| {
                    (0..1 + next(4))
                        .map(|_| Item {
                            weight: next(9) as usize,
                            value: -(next(1000) as f64) / 10.0,
                        })
                        .collect()
                })
                .collect();
            let budget = next(25) as usize;
            let want = brute(&groups, budget);
            let got = solve(&groups, budget);
            match (want, got) {
                (None, None) => {}
                (Some(v), Some((picks, gv))) => {
                    assert!((v - gv).abs() < 1e-9, "value {gv} against brute force {v}");
                    let w: usize = picks.iter().zip(&groups).map(|(&p, g)| g[p].weight).sum();
                    let pv: f64 = picks.iter().zip(&groups).map(|(&p, g)| g[p].value).sum();
                    assert!(w <= budget, "weight {w} over budget {budget}");
                    assert!((pv - gv).abs() < 1e-9, "the picks add up to the value");
                }
                (w, g) => panic!("brute force {w:?}, solver {g:?}"),
            }
        }
    }

    #[test]
    fn infeasible_and_empty_groups_are_none() {
        let g = vec![vec![Item {
            weight: 3,
            value: 0.0,
        }]];
        assert!(solve(&g, 2).is_none());
        assert!(solve(&[vec![]], 10).is_none());
        assert_eq!(solve(&[], 0), Some((vec![], 0.0)));
    }
}
