//! The lookup tables of the math functions, built from public parameters once per process
//! and shared ([`get`]): a table is a pure function of its [`Spec`], so every call with the
//! same formats reuses it, and the two parties (and the cleartext semantics) agree on it.
//!
//! Contents follow SiRnn (S&P 2021, §V and the SCI code's generators, see
//! ../shared/reference/sirnn-notes.md §4.4) with our own parameterisation: exp digit tables
//! with the clamp that keeps every entry's MSB public, linear-interpolation tables for 1/v,
//! 1/√v and √v on [1, 2) with the minimax offset of Ito–Takagi–Yajima, and the exponent tables
//! of the MSNZB normalisation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::proto::lut::Table;

/// A curve f on [1, 2) evaluated by linear interpolation, with f(2^j·v) = 2^{αj}·f(v).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// 1/v (α = −1).
    Recip,
    /// 1/√v (α = −1/2).
    Rsqrt,
    /// √v (α = 1/2).
    Sqrt,
}

impl Curve {
    pub fn f(self, v: f64) -> f64 {
        match self {
            Curve::Recip => 1.0 / v,
            Curve::Rsqrt => 1.0 / v.sqrt(),
            Curve::Sqrt => v.sqrt(),
        }
    }

    /// α in f(2^j·v) = 2^{αj}·f(v).
    pub fn alpha(self) -> f64 {
        match self {
            Curve::Recip => -1.0,
            Curve::Rsqrt => -0.5,
            Curve::Sqrt => 0.5,
        }
    }

    pub fn increasing(self) -> bool {
        self == Curve::Sqrt
    }

    /// The point of [p, p + h] where f' equals the secant's slope `a`: where the deviation of
    /// f from the secant is largest.
    fn tangent_point(self, a: f64) -> f64 {
        match self {
            Curve::Recip => (-1.0 / a).sqrt(),
            Curve::Rsqrt => (-2.0 * a).powf(-2.0 / 3.0),
            Curve::Sqrt => (2.0 * a).powi(-2),
        }
    }
}

/// A smooth bounded function interpolated on its signed input ([`Spec::Spline`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Smooth {
    Sigmoid,
    Tanh,
    /// gelu(x) − max(x, 0) = −|x|·Φ(−|x|): even, in [−0.17, 0], 0 at both ends.
    GeluBump,
}

impl Smooth {
    pub fn f(self, x: f64) -> f64 {
        match self {
            Smooth::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Smooth::Tanh => x.tanh(),
            Smooth::GeluBump => -x.abs() * phi(-x.abs()),
        }
    }

    /// The offset the table adds so that every result is non-negative (tanh ≥ −1).
    pub fn lift(self) -> u64 {
        match self {
            Smooth::Sigmoid => 0,
            Smooth::Tanh | Smooth::GeluBump => 1,
        }
    }
}

/// Φ(x) = erfc(−x/√2)/2, the standard normal CDF (erfc keeps the lower tail's relative
/// precision).
pub fn phi(x: f64) -> f64 {
    0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// GELU(x) = x·Φ(x) (Hendrycks and Gimpel; PyTorch's default, erf-based).
pub fn gelu(x: f64) -> f64 {
    x * phi(x)
}

/// What a table computes; all parameters are public.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Spec {
    /// Digit i of rExp (SiRnn Fig. 3): entry j = e^{(bias − j·2^shift)/2^scale} at scale t,
    /// rounded, clamped to [0, max]; one field of `field` bits.
    ExpDigit {
        width: u32,
        shift: u32,
        scale: u32,
        bias: u64,
        t: u32,
        max: u64,
        field: u32,
    },
    /// A low digit of the wide exp (issue 20): entry j = 1 − e^{−j·2^shift/2^scale} at scale
    /// t, rounded, clamped below 2^t; one field of `field` bits. The digit's factor e^{−a} is
    /// 1 − g with g small, so g carries t bits below its leading zeros.
    ExpOneMinus {
        width: u32,
        shift: u32,
        scale: u32,
        t: u32,
        field: u32,
    },
    /// Whether a digit is zero (the wide exp's range flags): one 1-bit field.
    IsZero { width: u32 },
    /// Linear interpolation of `curve` on [1, 2) with 2^g intervals (SiRnn Fig. 5, initial
    /// approximation): entry e = (c₀, c₁) with f(v) ≈ c₁ ∓ c₀·(v − pₑ), pₑ = 1 + e·2^{−g};
    /// c₀ = |secant slope| at scale `s0` (s0 + 1 bits), c₁ = f(pₑ) + minimax offset at scale
    /// `f` (`c1_bits` bits).
    Interp {
        curve: Curve,
        g: u32,
        s0: u32,
        f: u32,
        c1_bits: u32,
    },
    /// `func` + lift on the m-bit two's-complement input x at scale `s`, by 2^g intervals
    /// of its top g bits (entry j: x ∈ [p_j, p_j + h), p_j = signed(j)·2^{m−g−s},
    /// h = 2^{m−g−s}): entry (c₀, c₁) with f(x) ≈ c₁ + c₀·(x − p_j); c₀ = the secant's slope at
    /// scale `s0` (s0 + 1 bits, clamped below 2^{s0}), c₁ = f(p_j) plus the offset that
    /// centres the deviation from the secant, at scale `f` (`c1_bits` bits). When g = m the
    /// table is the function itself: one field, f(x) rounded.
    Spline {
        func: Smooth,
        m: u32,
        s: u32,
        g: u32,
        s0: u32,
        f: u32,
        c1_bits: u32,
    },
    /// `func` on the b-bit two's-complement window x at scale `s` by a quadratic per interval
    /// of its top g bits (p_j = signed(j)·h, h = 2^{b−g−s}; k = b − g): with δ the low k bits
    /// (an integer, x = p_j + δ·2^{−s}), f(x) ≈ a + δ·(c₁ + c₂·δ)·2^{−s2}. Fields: c₂ + 2^{off}
    /// (`c2_bits`, clamped to [0, 2^{off+1})) with its wrap, and a + lift at scale `f`
    /// (`a_bits`). `fold`: the window is of |x|, b bits unsigned (p_j = j·h).
    QuadA {
        func: Smooth,
        b: u32,
        s: u32,
        g: u32,
        f: u32,
        s2: u32,
        c2_bits: u32,
        off: u32,
        a_bits: u32,
        fold: bool,
    },
    /// The c₁ of [`Spec::QuadA`]'s intervals at scale `s2`, in `l1_bits` (two's complement).
    QuadB {
        func: Smooth,
        b: u32,
        s: u32,
        g: u32,
        s2: u32,
        l1_bits: u32,
        fold: bool,
    },
    /// Saturation of a window test: index (the window's sign bit, the `hb` bits above the
    /// window); entry (1 if those bits are not all equal, the saturated f(±∞) + 0 at scale `f`
    /// in `n` bits).
    Saturate {
        func: Smooth,
        hb: u32,
        f: u32,
        n: u32,
    },
    /// Saturation of the folded window (|x| < 2^b at scale `s`): index the `hb` bits of |x|
    /// above it; entry (1 if any is set, f at the block's start |x| = i·2^b rounded at scale
    /// `f` in `n` bits). Every such block lies where f is within 2^{−f−2} of its limit, but
    /// one: |x| = 2^{m−1} (x the most negative input) when the window reaches the sign bit.
    SaturateAbs {
        func: Smooth,
        hb: u32,
        b: u32,
        s: u32,
        f: u32,
        n: u32,
    },
    /// The normaliser of an ℓ-bit positive x with leading one at k: 2^{ℓ−2−k}
    /// (k ≤ ℓ − 2; 0 otherwise), so x·2^{ℓ−2−k} ∈ [2^{ℓ−2}, 2^{ℓ−1}).
    Normalise { iota: u32, ell: u32 },
    /// The exponent factor of `curve` for x = v·2^{k−s}: 2^{α(k−s)} at scale `sc`, rounded
    /// (min_k ≤ k ≤ ℓ − 2, where the caller knows x ≥ 2^{min_k}; 0 otherwise).
    Exponent {
        curve: Curve,
        iota: u32,
        ell: u32,
        s: u32,
        sc: u32,
        min_k: u32,
        /// The input is divided by `div` first: entries carry div^{−α}.
        div: u32,
    },
    /// MSNZB of one digit (SiRnn Alg. 7): entry y = (⌊log2 y⌋ + base mod 2^ι, 1{y = 0}).
    MsnzbDigit { width: u32, base: u32, iota: u32 },
    /// One-hot encoding of an ι-bit index into ℓ one-bit fields.
    OneHot { iota: u32, ell: u32 },
}

/// The table for `spec`, built on first use.
pub fn get(spec: Spec) -> Arc<Table> {
    static CACHE: OnceLock<Mutex<HashMap<Spec, Arc<Table>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&spec) {
        return t.clone();
    }
    let t = Arc::new(build(spec));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(spec)
        .or_insert(t)
        .clone()
}

/// Interval j of [`Spec::QuadA`]: (a, c₁ as an integer at scale s2 per unit δ, c₂ likewise):
/// the quadratic through f at the interval's three Chebyshev nodes, its constant moved to the
/// middle of the deviation band.
/// `fold`: j unsigned (the window of |x|).
pub fn quad_fit(
    func: Smooth,
    b: u32,
    s: u32,
    g: u32,
    s2: u32,
    j: u64,
    fold: bool,
) -> (f64, i64, i64) {
    let k = b - g;
    let h = ((k as f64) - (s as f64)).exp2();
    let j = if fold {
        j as i64
    } else {
        crate::ring::to_signed(j, g)
    };
    let p = j as f64 * h;
    let nodes: Vec<f64> = (0..3)
        .map(|i| h / 2.0 * (1.0 - ((2 * i + 1) as f64 * std::f64::consts::PI / 6.0).cos()))
        .collect();
    let ys: Vec<f64> = nodes.iter().map(|&t| func.f(p + t)).collect();
    // Newton's divided differences in t.
    let d1 = (ys[1] - ys[0]) / (nodes[1] - nodes[0]);
    let d2 = ((ys[2] - ys[1]) / (nodes[2] - nodes[1]) - d1) / (nodes[2] - nodes[0]);
    // q(t) = ys0 + d1 (t − t0) + d2 (t − t0)(t − t1) = c + bt + at².
    let qa = d2;
    let qb = d1 - d2 * (nodes[0] + nodes[1]);
    // Per unit δ (t = δ·2^{−s}) at scale s2, as integers; the constant absorbs the rest.
    let sc = |v: f64, e: i32| (v * ((s2 as i32 - e * s as i32) as f64).exp2()).round() as i64;
    let (c1, c2) = (sc(qb, 1), sc(qa, 2));
    let unit = (-(s2 as f64)).exp2();
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    let steps = (1u64 << k.min(10)) as f64;
    for i in 0..=steps as u64 {
        let d = (i as f64 / steps * ((1u64 << k) - 1) as f64).round();
        let q = d * (c1 as f64 + c2 as f64 * d) * unit;
        let e = func.f(p + d * (-(s as f64)).exp2()) - q;
        lo = lo.min(e);
        hi = hi.max(e);
    }
    ((lo + hi) / 2.0, c1, c2)
}

/// [`Spec::ExpOneMinus`]'s entry j: 1 − e^{−j·2^shift/2^scale} at scale t, rounded, below
/// 2^t (the wide exp sizes its fields from the largest).
pub fn one_minus_exp(j: u64, shift: u32, scale: u32, t: u32) -> u64 {
    let a = (j as f64) * ((shift as f64) - (scale as f64)).exp2();
    // (expm1 keeps g's relative precision where a is tiny.)
    let v = round_fix(-(-a).exp_m1(), t);
    (v as u64).min((1u64 << t) - 1)
}

fn round_fix(v: f64, scale: u32) -> f64 {
    (v * (scale as f64).exp2()).round()
}

fn build(spec: Spec) -> Table {
    match spec {
        Spec::ExpDigit {
            width,
            shift,
            scale,
            bias,
            t,
            max,
            field,
        } => Table::build(width, &[field], |j| {
            let z = (bias as f64 - (j as f64) * (shift as f64).exp2()) / (scale as f64).exp2();
            let v = round_fix(z.exp(), t);
            vec![if v >= max as f64 { max } else { v as u64 }]
        }),
        Spec::ExpOneMinus {
            width,
            shift,
            scale,
            t,
            field,
        } => Table::build(width, &[field], |j| vec![one_minus_exp(j, shift, scale, t)]),
        Spec::IsZero { width } => Table::build(width, &[1], |j| vec![u64::from(j == 0)]),
        Spec::Interp {
            curve,
            g,
            s0,
            f,
            c1_bits,
        } => {
            let h = (-(g as f64)).exp2();
            Table::build(g, &[s0 + 1, c1_bits], |e| {
                let p = 1.0 + e as f64 * h;
                let (fp, fq) = (curve.f(p), curve.f(p + h));
                let a = (fq - fp) / h;
                let vstar = curve.tangent_point(a).clamp(p, p + h);
                let dev = curve.f(vstar) - (fp + a * (vstar - p));
                let c1 = fp + dev / 2.0;
                // Clamped so c₀ < 2^{s0}: its MSB is public in the product.
                let c0 = (round_fix(a.abs(), s0) as u64).min((1u64 << s0) - 1);
                vec![c0, round_fix(c1, f) as u64]
            })
            .with_wrap(0)
        }
        Spec::Spline {
            func,
            m,
            s,
            g,
            s0,
            f,
            c1_bits,
        } => {
            let lift = func.lift() as f64;
            let scale = (-(s as f64)).exp2();
            if g == m {
                return Table::build(g, &[c1_bits], |j| {
                    let x = crate::ring::to_signed(j, m) as f64 * scale;
                    vec![round_fix(func.f(x) + lift, f) as u64]
                });
            }
            let k = m - g;
            let h = (k as f64).exp2() * scale;
            Table::build(g, &[s0 + 1, c1_bits], |j| {
                let p = crate::ring::to_signed(j, g) as f64 * h;
                let (fp, fq) = (func.f(p), func.f(p + h));
                let a = (fq - fp) / h;
                // The deviation of f from the secant over the interval, sampled finely: the
                // line through its midpoint band errs least at both extremes.
                let (mut lo, mut hi) = (0.0f64, 0.0f64);
                for t in 1..256 {
                    let x = p + h * t as f64 / 256.0;
                    let d = func.f(x) - (fp + a * (x - p));
                    lo = lo.min(d);
                    hi = hi.max(d);
                }
                let c1 = fp + (lo + hi) / 2.0 + lift;
                let c0 = (round_fix(a.max(0.0), s0) as u64).min((1u64 << s0) - 1);
                vec![c0, round_fix(c1, f) as u64]
            })
            .with_wrap(0)
        }
        Spec::QuadA {
            func,
            b,
            s,
            g,
            f,
            s2,
            c2_bits,
            off,
            a_bits,
            fold,
        } => Table::build(g, &[c2_bits, a_bits], |j| {
            let (a, _, c2) = quad_fit(func, b, s, g, s2, j, fold);
            let off = 1i64 << off;
            let c2u = (c2 + off).clamp(0, 2 * off - 1) as u64;
            vec![c2u, round_fix(a + func.lift() as f64, f) as u64]
        })
        .with_wrap(0),
        Spec::QuadB {
            func,
            b,
            s,
            g,
            s2,
            l1_bits,
            fold,
        } => Table::build(g, &[l1_bits], |j| {
            let (_, c1, _) = quad_fit(func, b, s, g, s2, j, fold);
            vec![c1 as u64]
        }),
        Spec::SaturateAbs {
            func,
            hb,
            b,
            s,
            f,
            n,
        } => Table::build(hb, &[1, n], |i| {
            if i == 0 {
                return vec![0, 0];
            }
            let x = i as f64 * (b as f64 - s as f64).exp2();
            let v = round_fix(func.f(x), f) as i64;
            vec![1, crate::ring::reduce(v as u64, n)]
        }),
        Spec::Saturate { func, hb, f, n } => Table::build(hb + 1, &[1, n], |u| {
            let all = (1u64 << (hb + 1)) - 1;
            if u == 0 || u == all {
                return vec![0, 0];
            }
            // The top index bit is the input's sign.
            let v = match (func, u >> hb == 0) {
                (Smooth::GeluBump, _) => 0,
                (_, true) => 1i64 << f,
                (Smooth::Sigmoid, false) => 0,
                (Smooth::Tanh, false) => -(1i64 << f),
            };
            vec![1, v as u64]
        }),
        Spec::Normalise { iota, ell } => Table::build(iota, &[64], |k| {
            vec![if k + 2 <= ell as u64 {
                1u64 << (ell as u64 - 2 - k)
            } else {
                0
            }]
        }),
        Spec::Exponent {
            curve,
            iota,
            ell,
            s,
            sc,
            min_k,
            div,
        } => Table::build(iota, &[64], |k| {
            if k + 2 > ell as u64 || k < min_k as u64 {
                return vec![0];
            }
            let c = (curve.alpha() * (k as f64 - s as f64)).exp2()
                * (div.max(1) as f64).powf(-curve.alpha());
            vec![round_fix(c, sc).min(u64::MAX as f64) as u64]
        }),
        Spec::MsnzbDigit { width, base, iota } => Table::build(width, &[iota, 1], |y| {
            if y == 0 {
                vec![base as u64, 1]
            } else {
                vec![(63 - y.leading_zeros()) as u64 + base as u64, 0]
            }
        }),
        Spec::OneHot { iota, ell } => {
            let fields = vec![1u32; ell as usize];
            Table::build(iota, &fields, |k| {
                (0..ell as u64).map(|i| (i == k) as u64).collect()
            })
        }
    }
}
