//! The millionaires' comparison: Boolean shares of 1{x < y} for the server's unsigned ℓ-bit x
//! and the client's y.
//!
//! Follows Algorithm 1 of CrypTFlow2 (Rathee, Rathee, Kumar, Chandran, Gupta, Rastogi,
//! Sharma, "CrypTFlow2: Practical 2-Party Secure Inference", CCS 2020, §3.1): cut x and y into
//! digits ("leaves"); for every leaf one (2^m choose 1)-OT, server as sender offering
//! (1{x_j < v} ⊕ r, 1{x_j = v} ⊕ r') for every digit value v, client choosing v = y_j; then
//! combine leaves up a tree with lt = lt_hi ⊕ (eq_hi ∧ lt_lo), eq = eq_hi ∧ eq_lo.
//!
//! Two changes, both from counting bytes and messages rather than from a different idea:
//! - **Combination by 1-of-N OT instead of bit triples.** A node over k ≤ 5 children computes
//!   G = ⊕_i lt_i ∧ ∏_{j>i} eq_j (and ∏ eq_j when its parent needs it) in one KK13 OT: the
//!   receiver chooses with its shares of the 2k − 2 (+1) input bits, the sender offers the
//!   node's truth table shifted by its own shares and masked by fresh output shares. CrypTFlow2
//!   spends two bit triples (≈ 2·18 B) per binary node plus an opening; one (8 choose 1)-OT of
//!   2-bit messages is 34 B, and a 4- or 5-ary node replaces three or four binary ones.
//! - **Alternating roles per level.** The sender of a level keeps fresh random output shares,
//!   so it knows its inputs to the next level at once and sends that level's OT extension (as
//!   receiver) in the same message as its OT corrections. A tree of height L costs L + 2
//!   messages (CrypTFlow2: 2 for the leaves, then 2 per AND level).
//!
//! Leaf widths and node arities are chosen by [`Tree::new`], a small dynamic program that
//! minimises the bits per comparison (leaf: λ_KK + 2^m·(1 + eq) bits with λ_KK = 256; node:
//! λ_KK + 2^(2k−2+eq)·(1 + eq) bits) plus [`HASH_WEIGHT`] per pad the sender must hash, ties
//! broken by tree height. For ℓ = 31 (the MSB of 32-bit values) this gives 314 B per
//! comparison in 4 messages; CrypTFlow2 with m = 4 is bounded by λℓ + 14ℓ bits ≈ 550 B.
//!
//! On silent OT a 1-of-N OT's receiver sends ⌈log2 N⌉ bits instead of KK13's 256, so smaller
//! leaves and nodes pay: each tree carries a second plan ([`Tree::silent`]), the cheapest at
//! silent prices among trees of the same height (a planner bounded by height, so both engines'
//! calls take the same flights), whose binary nodes may be AND gates on 1-bit COTs (lt = lt_hi ⊕
//! eq_hi ∧ lt_lo, eq = eq_hi ∧ eq_lo: 4 or 8 bits per comparison against a 1-of-4 or 1-of-8
//! OT's 6 or 19; CrypTFlow2 takes these ANDs from bit triples, an exchange per level).
//! ℓ = 31: 42.1 B online in the same 4 messages; ℓ = 63: 67.9 B in 6. On batches long enough
//! that the bytes saved outweigh two flights ([`FLIGHT_BYTES`] each), silent OT runs a third
//! plan ([`Tree::tall`]), the cheapest two levels higher — the flights CrypTFlow2's and
//! Ferret-SCI's taller trees take, so the last sender and what joins it stay as on IKNP —:
//! ℓ = 31 in 30.9 B and 6 messages.
//!
//! Security (semi-honest): each OT is fresh (KK13 through [`crate::ot`]); the sender's output
//! shares are fresh CSPRNG bits, so every message the receiver sees is uniformly masked; the
//! control flow depends only on ℓ and n.

use super::bool::random_bits;
use super::{Cost, Party, ProtoError};
use crate::net::Role;
use crate::ot::OtKind;
use crate::ot::cost as otc;
use crate::ring;
use std::collections::HashMap;

/// The KK13 receiver's cost per OT in bits (the 256-column extension matrix).
const KK_BITS: u64 = 256;

/// One node of a comparison tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Digit bits `lo .. lo + width` of both inputs (width ≤ 8).
    Leaf { lo: u32, width: u32 },
    /// Children (node indices), least significant first; 2 ≤ k ≤ 5.
    Inner { children: Vec<usize> },
    /// Two children combined by AND gates on 1-bit COTs instead of a 1-of-N OT (silent OT's
    /// trees only): lt = lt_hi ⊕ eq_hi ∧ lt_lo, eq = eq_hi ∧ eq_lo, each AND two COTs with the
    /// level's sender as OT sender (its shares as correlations, the receiver's as choices).
    And { lo: usize, hi: usize },
}

/// A node: what it compares, whether its parent needs its equality bit, and its level (the
/// OT round that computes it; leaves are level 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub need_eq: bool,
    pub level: u32,
}

impl Node {
    /// (N, message bits) of this node's OT (an AND node's: N = 2, COTs of 1 bit).
    fn ot_shape(&self) -> (usize, u32) {
        let e = self.need_eq as u32;
        match &self.kind {
            Kind::Leaf { width, .. } => (1usize << width, 1 + e),
            Kind::Inner { children } => (1usize << (2 * children.len() as u32 - 2 + e), 1 + e),
            Kind::And { .. } => (2, 1),
        }
    }

    /// An AND node's COTs per comparison: two per gate, one gate more with eq.
    fn and_cots(&self) -> usize {
        2 + 2 * self.need_eq as usize
    }

    /// The cost of this node's OTs on `n` comparisons.
    fn cost(&self, n: usize) -> Cost {
        let c = match self.kind {
            Kind::And { .. } => otc::cot(n * self.and_cots(), 1),
            _ => {
                let (big_n, bits) = self.ot_shape();
                otc::one_of_n(n, big_n, bits)
            }
        };
        Cost::ot(sender_at(self.level), c)
    }
}

/// The tree of one comparison width: leaves and nodes in evaluation order (children before
/// parents), the root last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub bits: u32,
    pub nodes: Vec<Node>,
    /// The root's level (tree height); messages are `height + 2`.
    pub height: u32,
    /// The tree silent OT runs instead, where one with the same height costs fewer bytes at
    /// silent prices (a 1-of-N OT's receiver sends ⌈log2 N⌉ bits there, not KK13's 32 B, so
    /// smaller leaves and nodes pay): same flights, so the two engines' calls have one shape.
    pub silent: Option<Box<Tree>>,
    /// The tree silent OT runs on batches long enough to pay for two more flights
    /// ([`Tree::on`]): the cheapest of height `height + 2` at silent prices (two levels, so
    /// its last message is the same party's and what follows keeps its shape).
    pub tall: Option<Box<Tree>>,
}

/// What one flight is worth in bytes where a construction trades flights for bytes: a LAN's
/// bandwidth–delay product (1 Gbit/s, 0.25 ms one way). A silent-OT comparison takes the
/// [`Tree::tall`] tree when its two extra flights save at least twice this on the batch.
pub const FLIGHT_BYTES: u64 = 31_250;

/// Who sends the OT corrections of a level: the server for the leaves, then alternating.
pub fn sender_at(level: u32) -> Role {
    if level.is_multiple_of(2) {
        Role::Server
    } else {
        Role::Client
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    bits: u64,
    height: u32,
}

#[derive(Clone, Debug)]
enum Choice {
    Leaf,
    /// Child widths, least significant first.
    Split(Vec<u32>),
}

/// The planner's weight of one pad the OT sender hashes (two AES blocks), in bits on the
/// wire. Minimising bytes alone (weight 0) picks 1-of-256 nodes and 64-/128-way leaves whose
/// hashing dominates the time on a fast network; weight 2 costs ≈ 3 % more bytes at ℓ = 32
/// and halves the time (measured with `sir bench op relu`, see docs/performance.md).
pub const HASH_WEIGHT: u64 = 2;

/// A memoised split: its score and the width of its top subtree.
type SplitEntry = Option<(Score, u32)>;

/// Dynamic program over (width, needs eq); `split[t][e][k]` memoises the best split of t
/// bits into k subtrees.
struct Planner {
    best: Vec<[Option<(Score, Choice)>; 2]>,
    split: Vec<[[SplitEntry; 6]; 2]>,
}

impl Planner {
    /// Plans every width up to `max`, weighing each hashed pad `weight` bits.
    fn new(max: u32, weight: u64) -> Planner {
        let gamma = || weight;
        let mut p = Planner {
            best: vec![[None, None]; max as usize + 1],
            split: vec![[[None; 6]; 2]; max as usize + 1],
        };
        for t in 1..=max {
            for e in 0..2u32 {
                // Splits into k ≥ 2 parts only use widths below t.
                for k in 2..=5u32 {
                    p.split[t as usize][e as usize][k as usize] = p.best_split(t, e, k);
                }
            }
            for e in 0..2u32 {
                let mut cand: Option<(Score, Choice)> = None;
                let mut consider = |s: Score, c: Choice| {
                    if cand.as_ref().is_none_or(|(b, _)| s < *b) {
                        cand = Some((s, c));
                    }
                };
                if t <= 8 {
                    consider(
                        Score {
                            bits: KK_BITS + (1u64 << t) * (1 + e) as u64 + gamma() * (1u64 << t),
                            height: 0,
                        },
                        Choice::Leaf,
                    );
                }
                let kmax = if e == 1 { 4 } else { 5 };
                for k in 2..=kmax.min(t) {
                    let own = KK_BITS
                        + (1u64 << (2 * k - 2 + e)) * (1 + e) as u64
                        + gamma() * (1u64 << (2 * k - 2 + e));
                    if let Some((s, _)) = p.split[t as usize][e as usize][k as usize] {
                        consider(
                            Score {
                                bits: own + s.bits,
                                height: s.height + 1,
                            },
                            Choice::Split(p.widths(t, e, k)),
                        );
                    }
                }
                p.best[t as usize][e as usize] = cand;
            }
        }
        p
    }

    /// The memoised best split of `t` bits into `k` subtrees (k = 1: the subtree itself).
    fn get(&self, t: u32, e: u32, k: u32) -> Option<(Score, u32)> {
        if k == 1 {
            return self.best[t as usize][e as usize]
                .as_ref()
                .map(|(s, _)| (*s, t));
        }
        self.split[t as usize][e as usize][k as usize]
    }

    /// Best split of `t` bits into `k ≥ 2` subtrees, the lowest with eq flag `e`, the others
    /// with eq: (score with height = max child height, width of the top subtree).
    fn best_split(&self, t: u32, e: u32, k: u32) -> Option<(Score, u32)> {
        let mut best: Option<(Score, u32)> = None;
        for top in 1..t {
            if t - top < k - 1 {
                break;
            }
            let Some((ts, _)) = &self.best[top as usize][1] else {
                continue;
            };
            let Some((rs, _)) = self.get(t - top, e, k - 1) else {
                continue;
            };
            let s = Score {
                bits: ts.bits + rs.bits,
                height: ts.height.max(rs.height),
            };
            if best.is_none_or(|(b, _)| s < b) {
                best = Some((s, top));
            }
        }
        best
    }

    /// The child widths of the best k-split, least significant first.
    fn widths(&self, t: u32, e: u32, k: u32) -> Vec<u32> {
        let mut w = Vec::with_capacity(k as usize);
        let (mut t, mut k) = (t, k);
        while k > 1 {
            let (_, top) = self.split[t as usize][e as usize][k as usize].expect("split exists");
            w.push(top);
            t -= top;
            k -= 1;
        }
        w.push(t);
        w.reverse();
        w
    }

    fn build(&self, t: u32, e: bool, lo: u32, nodes: &mut Vec<Node>) -> usize {
        let (_, choice) = self.best[t as usize][e as usize]
            .as_ref()
            .expect("every width has a tree");
        let node = match choice {
            Choice::Leaf => Node {
                kind: Kind::Leaf { lo, width: t },
                need_eq: e,
                level: 0,
            },
            Choice::Split(widths) => {
                let mut children = Vec::with_capacity(widths.len());
                let mut at = lo;
                for (i, &w) in widths.iter().enumerate() {
                    children.push(self.build(w, i > 0 || e, at, nodes));
                    at += w;
                }
                let level = 1 + children.iter().map(|&c| nodes[c].level).max().unwrap_or(0);
                Node {
                    kind: Kind::Inner { children },
                    need_eq: e,
                    level,
                }
            }
        };
        nodes.push(node);
        nodes.len() - 1
    }
}

/// The planner under a height bound (silent OT's trees must take the flights of IKNP's): the
/// cheapest tree of height at most h for t bits, by memoised recursion over (t, eq, h) — the
/// children of a node planned under h − 1, so no cheaper but taller subtree crowds out one that
/// fits.
struct Bounded {
    /// Bits per pad the sender hashes.
    weight: u64,
    max_height: u32,
    /// (t, eq, h) → bits and child widths (empty: a leaf).
    best: HashMap<(u32, bool, u32), Option<BoundedBest>>,
    /// (t, eq, k, h) → bits and the top subtree's width.
    split: HashMap<(u32, bool, u32, u32), BoundedSplit>,
}

/// A bounded subtree's bits, child widths (empty: a leaf) and whether its two children are
/// combined by AND gates.
type BoundedBest = (u64, Vec<u32>, bool);

/// A bounded split's bits and its top subtree's width.
type BoundedSplit = Option<(u64, u32)>;

impl Bounded {
    /// The planner of trees at most `max_height` high, weighing each hashed pad `weight` bits.
    fn new(weight: u64, max_height: u32) -> Bounded {
        Bounded {
            weight,
            max_height,
            best: Default::default(),
            split: Default::default(),
        }
    }

    /// The bits (with the hashing weight) of a node over a silent (2^c choose 1)-OT: the
    /// receiver's c choice bits and c COTs (≈ 0.45 bits each to generate, 3c/2 rounded up),
    /// the sender's 2^c messages.
    fn ot(&self, c: u32, e: bool) -> u64 {
        (3 * c as u64).div_ceil(2) + (1u64 << c) * (1 + e as u64) + self.weight * (1u64 << c)
    }

    /// The bits (with the hashing weight) of an AND node: per COT a choice bit, a correction
    /// bit, its generation and a pad hashed.
    fn and(&self, e: bool) -> u64 {
        let cots = 2 + 2 * e as u64;
        2 * cots + cots.div_ceil(2) + self.weight * cots
    }

    /// Best tree of t bits, height ≤ h: its bits, child widths (empty: a leaf) and AND flag.
    fn best(&mut self, t: u32, e: bool, h: u32) -> Option<BoundedBest> {
        if let Some(r) = self.best.get(&(t, e, h)) {
            return r.clone();
        }
        let mut cand: Option<BoundedBest> = (t <= 8).then(|| (self.ot(t, e), Vec::new(), false));
        if h >= 1 {
            let kmax = if e { 4 } else { 5 };
            for k in 2..=kmax.min(t) {
                let by_ot = self.ot(2 * k - 2 + e as u32, e);
                let (own, and) = match k == 2 && self.and(e) < by_ot {
                    true => (self.and(e), true),
                    false => (by_ot, false),
                };
                if let Some((b, _)) = self.split(t, e, k, h - 1)
                    && cand.as_ref().is_none_or(|(c, _, _)| own + b < *c)
                {
                    cand = Some((own + b, self.widths(t, e, k, h - 1), and));
                }
            }
        }
        self.best.insert((t, e, h), cand.clone());
        cand
    }

    /// Best split of t bits into k subtrees of height ≤ h (the lowest with eq flag e, the
    /// others with eq): bits and the top subtree's width.
    fn split(&mut self, t: u32, e: bool, k: u32, h: u32) -> Option<(u64, u32)> {
        if k == 1 {
            return self.best(t, e, h).map(|(b, _, _)| (b, t));
        }
        if let Some(r) = self.split.get(&(t, e, k, h)) {
            return *r;
        }
        let mut cand: Option<(u64, u32)> = None;
        for top in 1..=t.saturating_sub(k - 1) {
            let (Some((a, _, _)), Some((b, _))) =
                (self.best(top, true, h), self.split(t - top, e, k - 1, h))
            else {
                continue;
            };
            if cand.is_none_or(|(c, _)| a + b < c) {
                cand = Some((a + b, top));
            }
        }
        self.split.insert((t, e, k, h), cand);
        cand
    }

    /// The child widths of the best k-split, least significant first.
    fn widths(&mut self, t: u32, e: bool, k: u32, h: u32) -> Vec<u32> {
        let mut w = Vec::with_capacity(k as usize);
        let (mut t, mut k) = (t, k);
        while k > 1 {
            let Some((_, top)) = self.split(t, e, k, h) else {
                break;
            };
            w.push(top);
            t -= top;
            k -= 1;
        }
        w.push(t);
        w.reverse();
        w
    }

    fn build(&mut self, t: u32, e: bool, lo: u32, h: u32, nodes: &mut Vec<Node>) -> Option<usize> {
        let (_, widths, and) = self.best(t, e, h)?;
        let node = if widths.is_empty() {
            Node {
                kind: Kind::Leaf { lo, width: t },
                need_eq: e,
                level: 0,
            }
        } else {
            let mut children = Vec::with_capacity(widths.len());
            let mut at = lo;
            for (i, &w) in widths.iter().enumerate() {
                children.push(self.build(w, i > 0 || e, at, h - 1, nodes)?);
                at += w;
            }
            let level = 1 + children.iter().map(|&c| nodes[c].level).max().unwrap_or(0);
            let kind = match (and, &children[..]) {
                (true, &[lo, hi]) => Kind::And { lo, hi },
                _ => Kind::Inner { children },
            };
            Node {
                kind,
                need_eq: e,
                level,
            }
        };
        nodes.push(node);
        Some(nodes.len() - 1)
    }

    /// The cheapest tree of `bits` bits no higher than the bound, if any.
    fn tree(mut self, bits: u32, root_eq: bool) -> Option<Tree> {
        let mut nodes = Vec::new();
        let h = self.max_height;
        self.build(bits, root_eq, 0, h, &mut nodes)?;
        let height = nodes.last().map_or(0, |n| n.level);
        Some(Tree {
            bits,
            nodes,
            height,
            silent: None,
            tall: None,
        })
    }
}

impl Tree {
    /// The cheapest tree for comparing `bits`-bit values (0 ≤ bits ≤ 64; 0 is an empty
    /// tree whose result is 0).
    pub fn new(bits: u32) -> Tree {
        Tree::with_eq(bits, false)
    }

    /// The cheapest tree that also yields the equality bit 1{x = y} at the root (the
    /// comparison-with-equality of SiRnn's Wrap&All1s, App. B). For `bits` = 0 the equality
    /// is 1 and the comparison 0, without communication.
    pub fn with_eq(bits: u32, root_eq: bool) -> Tree {
        Tree::planned(bits, root_eq, HASH_WEIGHT)
    }

    /// The tree with the fewest bytes, hashing not weighed: for comparisons few enough that
    /// the sender's hashing does not matter (Block-ReLU's one per patch), where the 1-of-256
    /// leaf also saves a level (an 8-bit comparison: 64 B in one level, not 102.5 B in two).
    pub fn fewest_bytes(bits: u32) -> Tree {
        Tree::planned(bits, false, 0)
    }

    fn planned(bits: u32, root_eq: bool, weight: u64) -> Tree {
        assert!(bits <= 64, "comparison width {bits} > 64");
        if bits == 0 {
            return Tree {
                bits,
                nodes: Vec::new(),
                height: 0,
                silent: None,
                tall: None,
            };
        }
        // Planning searches over tree shapes; every width is planned once per process.
        type Cache = std::sync::Mutex<std::collections::HashMap<(u32, bool, u64), Tree>>;
        static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(p) = cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(bits, root_eq, weight))
        {
            return p.clone();
        }
        let planner = Planner::new(bits, weight);
        let mut nodes = Vec::new();
        planner.build(bits, root_eq, 0, &mut nodes);
        let height = nodes.last().map_or(0, |n| n.level);
        let mut tree = Tree {
            bits,
            nodes,
            height,
            silent: None,
            tall: None,
        };
        // Silent OT's hashing weighs half as much against its far smaller messages.
        let silent = Bounded::new(weight / 2, tree.height).tree(bits, root_eq);
        if let Some(t) = silent.filter(|t| t.height == tree.height && t.nodes != tree.nodes) {
            tree.silent = Some(Box::new(t));
        }
        let tall = Bounded::new(weight / 2, tree.height + 2).tree(bits, root_eq);
        if let Some(t) = tall.filter(|t| t.height == tree.height + 2) {
            let short = tree.silent.as_deref().unwrap_or(&tree);
            // Worth keeping if it saves anything per element (the batch decides the rest).
            if t.silent_bits(1024) < short.silent_bits(1024) {
                tree.tall = Some(Box::new(t));
            }
        }
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((bits, root_eq, weight), tree.clone());
        tree
    }

    /// The party that sends the last message (the sender of the root's level).
    pub fn last_sender(&self) -> Role {
        sender_at(self.height)
    }

    /// The cheapest tree of exactly `height` at silent prices (none if every cheapest one is
    /// lower): for a caller whose flights fit that height on silent OT only.
    pub fn silent_of_height(bits: u32, height: u32) -> Option<Tree> {
        Bounded::new(HASH_WEIGHT / 2, height)
            .tree(bits, false)
            .filter(|t| t.height == height)
    }

    /// The tree an engine runs on `n` comparisons: IKNP this one; silent OT [`Tree::silent`]
    /// (or this one), or [`Tree::tall`] where its two extra flights save at least
    /// 2·[`FLIGHT_BYTES`] on the batch (bytes and COT generation at silent prices). Both parties
    /// choose from public sizes only.
    pub fn on(&self, kind: OtKind, n: usize) -> &Tree {
        if kind == OtKind::Iknp {
            return self;
        }
        let short = self.silent.as_deref().unwrap_or(self);
        match &self.tall {
            Some(t) if t.silent_bits(n) + 2 * 8 * FLIGHT_BYTES <= short.silent_bits(n) => t,
            _ => short,
        }
    }

    /// Bits of `n` comparisons on silent OT: what they send, and their COTs' generation at
    /// half a bit each (the planner's price, [`Bounded`]).
    fn silent_bits(&self, n: usize) -> u64 {
        let c = self.own_cost(n);
        let [a, b] = c.silent_cots();
        8 * c.on(OtKind::Silent).total_bytes() + (a + b).div_ceil(2)
    }

    /// The exact cost of comparing `n` pairs with this tree (with the tree [`Tree::on`] picks
    /// on silent OT).
    pub fn cost(&self, n: usize) -> Cost {
        let s = self.on(OtKind::Silent, n);
        match std::ptr::eq(s, self) {
            true => self.own_cost(n),
            false => Cost::per_engine(self.own_cost(n), s.own_cost(n)),
        }
    }

    fn own_cost(&self, n: usize) -> Cost {
        if n == 0 || self.nodes.is_empty() {
            return Cost::ZERO;
        }
        let mut c = Cost::ZERO;
        for node in &self.nodes {
            c = c.alongside(node.cost(n));
        }
        c.in_rounds(self.height as u64 + 2)
    }
}

/// The exact cost of [`millionaire`] on `n` pairs of ℓ-bit values.
pub fn cost(n: usize, bits: u32) -> Cost {
    Tree::new(bits).cost(n)
}

/// The truth table of an inner node over its packed input bits (see [`input_index`]):
/// bit 0 = G = ⊕_i lt_i ∧ ∏_{j>i} eq_j, bit 1 = ∏_j eq_j (only if `eq`).
fn node_table(k: usize, eq: bool) -> Vec<u8> {
    let c = 2 * k - 2 + eq as usize;
    (0..1usize << c)
        .map(|w| {
            let lt = |i: usize| (w >> i) & 1;
            let eqb = |j: usize| {
                if j == 0 {
                    (w >> (2 * k - 2)) & 1
                } else {
                    (w >> (k - 1 + j - 1)) & 1
                }
            };
            let mut g = 0;
            for i in 0..k - 1 {
                let mut prod = lt(i);
                for j in i + 1..k {
                    prod &= eqb(j);
                }
                g ^= prod;
            }
            let e = if eq {
                (0..k).fold(1, |a, j| a & eqb(j))
            } else {
                0
            };
            (g | e << 1) as u8
        })
        .collect()
}

/// This party's shares of one node.
#[derive(Default)]
struct Shares {
    lt: Vec<u8>,
    eq: Vec<u8>,
}

/// Packs element `i`'s shares of a node's inputs: lt_0 … lt_{k−2}, then eq_1 … eq_{k−1},
/// then eq_0 if the node needs eq.
fn input_index(children: &[usize], eq: bool, sh: &[Shares], i: usize) -> u8 {
    let k = children.len();
    let mut w = 0u8;
    for (b, &c) in children[..k - 1].iter().enumerate() {
        w |= sh[c].lt[i] << b;
    }
    for (j, &c) in children.iter().enumerate().skip(1) {
        w |= sh[c].eq[i] << (k - 1 + j - 1);
    }
    if eq {
        w |= sh[children[0]].eq[i] << (2 * k - 2);
    }
    w
}

/// Millionaires' comparison: the server passes x, the client y (each `bits`-bit unsigned,
/// higher bits ignored); both get their Boolean share (one bit per byte) of 1{x < y}.
/// `tree` must be `Tree::new(bits)` on both sides. Leaves the last message queued (unflushed)
/// so that a following protocol by the same party can share its flight.
pub fn millionaire_with(p: &mut Party, tree: &Tree, input: &[u64]) -> Result<Vec<u8>, ProtoError> {
    Ok(compare(p, tree, input)?.0)
}

/// [`millionaire_with`] on a tree from [`Tree::with_eq`]`(bits, true)`: this party's shares
/// of (1{x < y}, 1{x = y}).
pub fn millionaire_eq_with(
    p: &mut Party,
    tree: &Tree,
    input: &[u64],
) -> Result<(Vec<u8>, Vec<u8>), ProtoError> {
    if !tree.nodes.last().is_none_or(|r| r.need_eq) {
        return Err(ProtoError::Argument(
            "the comparison tree does not compute equality".into(),
        ));
    }
    compare(p, tree, input)
}

/// The comparison tree: shares of the root's (lt, eq); eq is empty unless the root needs it.
fn compare(p: &mut Party, tree: &Tree, input: &[u64]) -> Result<(Vec<u8>, Vec<u8>), ProtoError> {
    let n = input.len();
    let tree = tree.on(p.ot_kind(), n);
    if tree.nodes.is_empty() {
        // Empty inputs are equal: the server holds the share 1.
        let e = p.is_server() as u8;
        return Ok((vec![0u8; n], vec![e; n]));
    }
    let me = p.role;
    let mut sh: Vec<Shares> = tree.nodes.iter().map(|_| Shares::default()).collect();
    // Receiver state per node: choices and OT outputs, between extend and finish.
    let mut choice: Vec<Vec<u8>> = tree.nodes.iter().map(|_| Vec::new()).collect();
    let mut out: Vec<Vec<u64>> = tree.nodes.iter().map(|_| Vec::new()).collect();
    let tables: Vec<Vec<u8>> = tree
        .nodes
        .iter()
        .map(|nd| match &nd.kind {
            Kind::Inner { children } => node_table(children.len(), nd.need_eq),
            Kind::Leaf { .. } | Kind::And { .. } => Vec::new(),
        })
        .collect();
    let mut msg = Vec::new();
    let mut r = Vec::new();
    let mut rw = Vec::new();

    // The receiver of `level` sends its extensions.
    let extend = |p: &mut Party,
                  level: u32,
                  sh: &[Shares],
                  choice: &mut [Vec<u8>],
                  out: &mut [Vec<u64>]|
     -> Result<(), ProtoError> {
        for (idx, nd) in tree.nodes.iter().enumerate() {
            if nd.level != level {
                continue;
            }
            let (big_n, bits) = nd.ot_shape();
            let ch = &mut choice[idx];
            ch.clear();
            match &nd.kind {
                Kind::Leaf { lo, width } => {
                    let m = ring::mask(*width);
                    ch.extend(input.iter().map(|&y| ((y >> lo) & m) as u8));
                }
                Kind::Inner { children } => {
                    ch.extend((0..n).map(|i| input_index(children, nd.need_eq, sh, i)));
                }
                &Kind::And { lo, hi } => {
                    // Choices lt_lo, eq_hi (then eq_lo, eq_hi for eq), packed: one COT each.
                    let a = &sh[hi].eq;
                    let mut c: Vec<u8> = sh[lo].lt.iter().chain(a).copied().collect();
                    if nd.need_eq {
                        c.extend(sh[lo].eq.iter().chain(a));
                    }
                    super::pack_bits(&c, ch);
                    out[idx].resize(c.len(), 0);
                    p.ot.cot_recv_extend(&mut *p.io, 1, ch, &mut out[idx])?;
                    continue;
                }
            }
            out[idx].resize(n, 0);
            p.ot.one_of_n_recv_extend(&mut *p.io, big_n, bits, ch, &mut out[idx])?;
        }
        Ok(())
    };

    if me == Role::Client {
        extend(p, 0, &sh, &mut choice, &mut out)?;
    }
    for level in 0..=tree.height {
        if sender_at(level) == me {
            msg.clear();
            for (idx, nd) in tree.nodes.iter().enumerate() {
                if nd.level != level {
                    continue;
                }
                let (big_n, bits) = nd.ot_shape();
                let e = nd.need_eq;
                if let &Kind::And { lo, hi } = &nd.kind {
                    // Correlations eq_hi, lt_lo (then eq_hi, eq_lo): the receiver's choices'
                    // partners; this party's output shares are its pads.
                    let a = &sh[hi].eq;
                    let mut corr: Vec<u64> =
                        a.iter().chain(&sh[lo].lt).map(|&b| b as u64).collect();
                    if e {
                        corr.extend(a.iter().chain(&sh[lo].eq).map(|&b| b as u64));
                    }
                    let mut t = vec![0u64; corr.len()];
                    p.ot.cot_send_deferred(&mut *p.io, 1, &corr, &mut t, &mut msg)?;
                    let (lt, eq) = and_outputs(&sh, (lo, hi), e, &t, n);
                    sh[idx].lt = lt;
                    sh[idx].eq = eq;
                    continue;
                }
                // Fresh output shares: bit 0 for lt (or G), bit 1 for eq.
                r.resize(n, 0);
                random_bits(p, &mut r);
                rw.resize(n, 0);
                if e {
                    random_bits(p, &mut rw);
                }
                match &nd.kind {
                    Kind::Leaf { lo, width } => {
                        let m = ring::mask(*width);
                        p.ot.one_of_n_send_deferred(
                            &mut *p.io,
                            big_n,
                            bits,
                            n,
                            |j, buf| {
                                let xd = (input[j] >> lo) & m;
                                let (rl, re) = (r[j] as u64, rw[j] as u64);
                                if e {
                                    for (v, b) in buf.iter_mut().enumerate() {
                                        let v = v as u64;
                                        *b = (((xd < v) as u64) ^ rl)
                                            | ((((xd == v) as u64) ^ re) << 1);
                                    }
                                } else {
                                    for (v, b) in buf.iter_mut().enumerate() {
                                        *b = ((xd < v as u64) as u64) ^ rl;
                                    }
                                }
                            },
                            &mut msg,
                        )?;
                        sh[idx].lt = r.clone();
                        if e {
                            sh[idx].eq = rw.clone();
                        }
                    }
                    Kind::Inner { children } => {
                        let own: Vec<u8> =
                            (0..n).map(|i| input_index(children, e, &sh, i)).collect();
                        let t = &tables[idx];
                        p.ot.one_of_n_send_deferred(
                            &mut *p.io,
                            big_n,
                            bits,
                            n,
                            |j, buf| {
                                let mask = r[j] | rw[j] << 1;
                                let o = own[j] as usize;
                                for (v, b) in buf.iter_mut().enumerate() {
                                    *b = (t[v ^ o] ^ mask) as u64;
                                }
                            },
                            &mut msg,
                        )?;
                        let top = &sh[*children.last().expect("k ≥ 2")].lt;
                        let lt: Vec<u8> = top.iter().zip(&r).map(|(a, b)| a ^ b).collect();
                        sh[idx].lt = lt;
                        if e {
                            sh[idx].eq = rw.clone();
                        }
                    }
                    Kind::And { .. } => {}
                }
            }
            p.io.send(&msg)?;
            if level < tree.height {
                extend(p, level + 1, &sh, &mut choice, &mut out)?;
            }
        } else {
            for (idx, nd) in tree.nodes.iter().enumerate() {
                if nd.level != level {
                    continue;
                }
                if let &Kind::And { lo, hi } = &nd.kind {
                    p.ot.cot_recv_finish(&mut *p.io, 1, &choice[idx], &mut out[idx])?;
                    let (lt, eq) = and_outputs(&sh, (lo, hi), nd.need_eq, &out[idx], n);
                    sh[idx].lt = lt;
                    sh[idx].eq = eq;
                    continue;
                }
                let (big_n, bits) = nd.ot_shape();
                p.ot.one_of_n_recv_finish(&mut *p.io, big_n, bits, &choice[idx], &mut out[idx])?;
                let o = &out[idx];
                let g: Vec<u8> = o.iter().map(|&v| (v & 1) as u8).collect();
                sh[idx].lt = match &nd.kind {
                    Kind::Inner { children } => {
                        let top = &sh[*children.last().expect("k ≥ 2")].lt;
                        top.iter().zip(&g).map(|(a, b)| a ^ b).collect()
                    }
                    Kind::Leaf { .. } | Kind::And { .. } => g,
                };
                if nd.need_eq {
                    sh[idx].eq = o.iter().map(|&v| ((v >> 1) & 1) as u8).collect();
                }
            }
        }
    }
    let root = tree.nodes.len() - 1;
    Ok((
        std::mem::take(&mut sh[root].lt),
        std::mem::take(&mut sh[root].eq),
    ))
}

/// An AND node's output shares from this party's COT values `v` (pads as sender, outputs as
/// receiver; in the order of the choices: lt_lo·eq_hi's two cross terms, then eq_lo·eq_hi's):
/// lt = lt_hi ⊕ eq_hi ∧ lt_lo, eq = eq_hi ∧ eq_lo (empty unless `e`), the local products of
/// this party's own shares included.
fn and_outputs(
    sh: &[Shares],
    (lo, hi): (usize, usize),
    e: bool,
    v: &[u64],
    n: usize,
) -> (Vec<u8>, Vec<u8>) {
    let cross = |k: usize, i: usize| ((v[k * n + i] ^ v[(k + 1) * n + i]) & 1) as u8;
    let a = &sh[hi].eq;
    let lt = (0..n)
        .map(|i| sh[hi].lt[i] ^ (a[i] & sh[lo].lt[i]) ^ cross(0, i))
        .collect();
    let eq = match e {
        true => (0..n)
            .map(|i| (a[i] & sh[lo].eq[i]) ^ cross(2, i))
            .collect(),
        false => Vec::new(),
    };
    (lt, eq)
}

/// [`millionaire_with`] on `Tree::new(bits)`.
pub fn millionaire(p: &mut Party, input: &[u64], bits: u32) -> Result<Vec<u8>, ProtoError> {
    super::bool::check_bits(bits)?;
    millionaire_with(p, &Tree::new(bits), input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_width_once() {
        for bits in 1..=64 {
            let tree = Tree::new(bits);
            let mut covered = vec![0u32; bits as usize];
            for nd in &tree.nodes {
                if let Kind::Leaf { lo, width } = nd.kind {
                    for b in lo..lo + width {
                        covered[b as usize] += 1;
                    }
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "ℓ = {bits}: {tree:?}");
            assert!(!tree.nodes.last().unwrap().need_eq);
            assert!(Tree::with_eq(bits, true).nodes.last().unwrap().need_eq);
        }
    }

    /// The planner's choices at the widths of the issue-4 targets, pinned: a planner change
    /// that costs bytes or messages shows up here (and in docs/performance.md).
    #[test]
    fn plans_of_msb_32_and_64_are_pinned() {
        let p31 = Tree::new(31);
        let leaves: Vec<u32> = p31
            .nodes
            .iter()
            .filter_map(|n| match n.kind {
                Kind::Leaf { width, .. } => Some(width),
                _ => None,
            })
            .collect();
        assert_eq!(leaves, [6, 5, 5, 5, 5, 5]);
        assert_eq!(p31.height, 2);
        let c = p31.cost(1 << 16).on(crate::ot::OtKind::Iknp);
        assert_eq!(
            (c.server_bytes, c.client_bytes, c.rounds),
            (82 << 16, 232 << 16, 4)
        );
        let c = Tree::new(63).cost(1 << 16).on(crate::ot::OtKind::Iknp);
        assert_eq!(
            (c.server_bytes, c.client_bytes, c.rounds),
            (186 << 16, 464 << 16, 6)
        );
    }

    /// Silent OT's plans of every width: each covers every bit once, keeps IKNP's root flag
    /// and last sender (so what follows keeps its shape), has IKNP's height on short batches
    /// and two levels more ([`Tree::tall`]) only where the batch pays for the flights, and
    /// costs no more on silent OT than IKNP's plan would there.
    #[test]
    fn silent_plans_keep_the_last_sender_and_cost_less() {
        use crate::ot::OtKind::{Iknp, Silent};
        let (mut cheaper, mut tall) = (0, 0);
        for bits in 1..=64 {
            for tree in [
                Tree::new(bits),
                Tree::with_eq(bits, true),
                Tree::fewest_bytes(bits),
            ] {
                for n in [1usize, 1 << 10, 1 << 20] {
                    let s = tree.on(Silent, n);
                    let taller = s.height - tree.height;
                    assert!(taller == 0 || (taller == 2 && n > 1), "ℓ = {bits}");
                    tall += (taller == 2) as u32;
                    assert_eq!(s.last_sender(), tree.last_sender());
                    let root = |t: &Tree| t.nodes.last().map(|n| n.need_eq);
                    assert_eq!(root(s), root(&tree));
                    let mut covered = vec![0u32; bits as usize];
                    for nd in &s.nodes {
                        if let Kind::Leaf { lo, width } = nd.kind {
                            (lo..lo + width).for_each(|b| covered[b as usize] += 1);
                        }
                    }
                    assert!(covered.iter().all(|&c| c == 1), "ℓ = {bits}: {s:?}");
                    let short = tree.on(Silent, 1);
                    let on_silent = |t: &Tree| t.own_cost(n).on(Silent).total_bytes();
                    // (One comparison pays a byte per packed message: not a fair measure.)
                    assert!(n == 1 || on_silent(short) <= on_silent(&tree), "ℓ = {bits}");
                    cheaper += (on_silent(s) < on_silent(&tree)) as u32;
                    if taller > 0 {
                        // Bytes and COT generation: at least the two flights' worth fewer.
                        let saved = short.silent_bits(n) - s.silent_bits(n);
                        assert!(saved >= 2 * 8 * FLIGHT_BYTES, "ℓ = {bits}");
                    }
                    assert_eq!(tree.cost(n).on(Iknp), tree.own_cost(n).on(Iknp));
                    assert_eq!(tree.cost(n).on(Silent), s.own_cost(n).on(Silent));
                    assert_eq!(tree.cost(n).rounds_on(Silent), s.height as u64 + 2);
                }
            }
        }
        assert!(
            cheaper > 200,
            "silent plans differ from IKNP's for most widths: {cheaper}"
        );
        assert!(tall > 100, "long batches take the tall trees: {tall}");
    }

    #[test]
    fn node_table_is_the_comparison_combination() {
        // k = 2 with eq: inputs lt0 (bit 0), eq1 (bit 1), eq0 (bit 2).
        let t = node_table(2, true);
        for (w, &tw) in t.iter().enumerate() {
            let (lt0, eq1, eq0) = (w & 1, (w >> 1) & 1, (w >> 2) & 1);
            assert_eq!(tw as usize, (eq1 & lt0) | ((eq1 & eq0) << 1));
        }
    }
}
