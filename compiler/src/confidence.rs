//! How far a plan's loss measured on calibration data can be trusted on inputs it has never
//! seen: the held-back split and the one-sided upper confidence bounds the compiler reports.
//!
//! The search ranks candidate plans on one part of the calibration set (the *search* part) and
//! confirms them on the rest (the *held-back* part), which no choice was made on, so the
//! held-back samples are an independent sample for every candidate the search produced. The
//! candidates are confirmed by fixed-sequence testing (most expensive first, stopping at the
//! first that fails): each test at the full level 1 − C keeps the probability that any
//! confirmed plan breaks its budget at most 1 − C without a multiplicity correction, because the
//! order was fixed before the held-back samples were looked at.
//!
//! - Classifiers: the loss on unseen data, float's accuracy minus the plan's, is at most the
//!   rate of *harmful flips* (inputs float classifies right and the plan wrong). Its upper
//!   bound is Clopper–Pearson's exact one-sided binomial bound on the flips counted among the
//!   held-back samples (Clopper & Pearson, Biometrika 1934): the p at which k or fewer flips in
//!   n have probability 1 − C.
//! - Output-error budgets: every held-back sample's largest error must stay within the budget
//!   E; then with confidence C at most ε = 1 − (1 − C)^(1/n) of unseen inputs exceed E (the
//!   held-back maximum bounds the (1 − ε)-quantile of the error: the same binomial bound with no
//!   exceedance).

/// The fraction of the calibration set held back for confirmation (the rest ranks candidates).
/// Three quarters: the bound is what a plan is accepted on and it tightens with the held-back
/// count (1 point at 95 % needs 299 held-back samples with no flip), while ranking a handful of
/// widths needs far fewer samples, and a wrong ranking only costs bytes (the confirmation
/// falls back to the next wider width), never the bound.
pub const HELD_BACK: (usize, usize) = (3, 4);

/// The confidence `sir compile` bounds its losses at unless told (`--confidence`).
pub const DEFAULT: f64 = 0.95;

/// Clopper–Pearson's one-sided upper bound at confidence `c` on a binomial proportion of which
/// `k` successes were seen in `n` trials: the p with P(Bin(n, p) ≤ k) = 1 − c (1 when n is 0 or
/// every trial succeeded).
pub fn clopper_pearson_upper(k: usize, n: usize, c: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    let alpha = 1.0 - c;
    // P(Bin(n, p) ≤ k) falls as p rises: bisect on [k/n, 1].
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if binomial_cdf(k, n, mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    hi
}

/// P(Bin(n, p) ≤ k), summed in log space (the terms underflow f64 for large n).
fn binomial_cdf(k: usize, n: usize, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    // ln pmf(i) from ln pmf(i − 1) by the ratio (n − i + 1)/i · p/q.
    let mut term = n as f64 * lq;
    let mut max = term;
    let mut terms = Vec::with_capacity(k + 1);
    terms.push(term);
    for i in 1..=k.min(n) {
        term += ((n - i + 1) as f64 / i as f64).ln() + lp - lq;
        max = max.max(term);
        terms.push(term);
    }
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

/// The most flips among `n` held-back samples whose upper bound stays within `budget` (a
/// fraction), or None when even none would not.
pub fn most_flips_within(n: usize, c: f64, budget: f64) -> Option<usize> {
    if clopper_pearson_upper(0, n, c) > budget {
        return None;
    }
    // The bound rises with k: the last k within.
    let mut k = 0;
    while k < n && clopper_pearson_upper(k + 1, n, c) <= budget {
        k += 1;
    }
    Some(k)
}

/// The fewest held-back samples whose bound, with no flip among them, is within `budget` (a
/// fraction): (1 − budget)^n ≤ 1 − c. None for a budget of 0, which no sample count confirms.
pub fn held_back_needed(c: f64, budget: f64) -> Option<usize> {
    if budget.is_nan() || budget <= 0.0 {
        return None;
    }
    if budget >= 1.0 {
        return Some(1);
    }
    let n = ((1.0 - c).ln() / (-budget).ln_1p()).ceil();
    let mut n = n.clamp(1.0, 1e12) as usize;
    // Guard the float rounding of the closed form against the bound itself.
    while clopper_pearson_upper(0, n, c) > budget {
        n += 1;
    }
    while n > 1 && clopper_pearson_upper(0, n - 1, c) <= budget {
        n -= 1;
    }
    Some(n)
}

/// The calibration set size that holds back `held` samples.
pub fn calibration_needed(held: usize) -> usize {
    let (num, den) = HELD_BACK;
    // held = n − ⌊n·(den − num)/den⌋: search upwards from the proportional size.
    let mut n = held * den / num;
    while n > held && split_sizes(n - 1).1 >= held {
        n -= 1;
    }
    while split_sizes(n).1 < held {
        n += 1;
    }
    n
}

/// (search, held back) sizes of a calibration set of `n` samples; one sample is both.
pub fn split_sizes(n: usize) -> (usize, usize) {
    if n < 2 {
        return (n, n);
    }
    let (num, den) = HELD_BACK;
    let search = (n * (den - num) / den).max(1);
    (search, n - search)
}

/// A fixed pseudo-random order of the calibration set's indices: the first
/// `split_sizes(n).0` are the search part, the rest held back. Keyed on the index alone, so a
/// compile is reproducible (`sir verify`), and not on the data's order (a set sorted by class
/// or time still splits evenly).
pub fn split_order(n: usize) -> Vec<usize> {
    let mut order: Vec<(u64, usize)> = (0..n)
        .map(|i| {
            let mut h = blake3::Hasher::new_derive_key("sir 2026 calibration split");
            h.update(&(i as u64).to_le_bytes());
            let b = h.finalize();
            let key = u64::from_le_bytes(b.as_bytes()[..8].try_into().unwrap_or([0; 8]));
            (key, i)
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_closed_forms_and_tables() {
        // k = 0: 1 − (1 − c)^(1/n) exactly.
        for n in [1usize, 10, 135, 299, 898, 10_000] {
            let want = 1.0 - 0.05f64.powf(1.0 / n as f64);
            assert!(
                (clopper_pearson_upper(0, n, 0.95) - want).abs() < 1e-9,
                "{n}"
            );
        }
        // One-sided 95 % bounds, the Beta(k + 1, n − k) quantile: 1 of 10 → 0.3942, 5 of 20 →
        // 0.4556, 10 of 100 → 0.1637.
        for (k, n, want) in [(1, 10, 0.3942), (5, 20, 0.4556), (10, 100, 0.1637)] {
            let got = clopper_pearson_upper(k, n, 0.95);
            assert!((got - want).abs() < 5e-4, "{k}/{n}: {got}");
        }
        // Monotone in k and in c; all successes bound at 1.
        assert!(clopper_pearson_upper(3, 500, 0.95) < clopper_pearson_upper(4, 500, 0.95));
        assert!(clopper_pearson_upper(3, 500, 0.9) < clopper_pearson_upper(3, 500, 0.99));
        assert_eq!(clopper_pearson_upper(7, 7, 0.95), 1.0);
        assert_eq!(clopper_pearson_upper(0, 0, 0.95), 1.0);
    }

    #[test]
    fn sizes_needed_are_the_smallest_that_suffice() {
        // 1 point at 95 %: 299 held-back samples (0.95^(1/299) ≥ 0.99 > 0.95^(1/298)).
        assert_eq!(held_back_needed(0.95, 0.0), None);
        let need = held_back_needed(0.95, 0.01).expect("1 point");
        assert_eq!(need, 299);
        assert!(clopper_pearson_upper(0, need, 0.95) <= 0.01);
        assert!(clopper_pearson_upper(0, need - 1, 0.95) > 0.01);
        let n = calibration_needed(need);
        assert!(split_sizes(n).1 >= need && split_sizes(n - 1).1 < need);
        assert_eq!(most_flips_within(need - 1, 0.95, 0.01), None);
        assert_eq!(most_flips_within(need, 0.95, 0.01), Some(0));
        let k = most_flips_within(898, 0.95, 0.01).expect("898 support 1 point");
        assert!(clopper_pearson_upper(k, 898, 0.95) <= 0.01);
        assert!(clopper_pearson_upper(k + 1, 898, 0.95) > 0.01);
    }

    #[test]
    fn the_split_is_a_fixed_permutation() {
        for n in [0usize, 1, 2, 3, 40, 1347] {
            let o = split_order(n);
            let mut s = o.clone();
            s.sort_unstable();
            assert_eq!(s, (0..n).collect::<Vec<_>>());
            assert_eq!(o, split_order(n));
            let (a, b) = split_sizes(n);
            assert!(n < 2 || a + b == n && a >= 1 && b >= 1);
        }
        // Not the identity: a sorted set is not split into its head and tail.
        assert_ne!(split_order(40), (0..40).collect::<Vec<_>>());
    }
}
