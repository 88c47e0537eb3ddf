//! Executing a plan between the two parties. Each party walks the same instruction list with
//! its own data — the client its input, the server its weights — holding one additive share of
//! every shared tensor ([`crate::proto::share`]); local instructions are the cleartext
//! semantics ([`crate::plan::clear`]) applied to the shares, protocol instructions call the
//! protocol whose cost the plan recorded. Outputs are revealed to the client only.
//!
//! A run has a [`Shape`]: `batch` samples execute as one pass over the plan (every tensor
//! computed from the client's input holds one value per sample, weights and constants one for
//! all), so a batch costs the rounds of one inference; `threads` connections, each a full
//! [`Party`] with its own OT state, take contiguous slices of a large instruction's units
//! ([`Plan::units`]) in parallel. [`estimate`] predicts the exact bytes of every instruction
//! for a shape from the protocols' cost functions; [`execute`] measures them on the channels,
//! and both parties exchange their per-instruction flush counts at the end so each side can
//! report the rounds (flights of both parties) it measured.

pub mod driver;
pub mod latency;
pub mod mux;
mod pool;
pub mod session;

#[cfg(test)]
mod tests;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::net::{NetError, Role, Stats};
use crate::ot::OtKind;
use crate::plan::{
    Family, InstrInfo, Kernel, Op, OpInfo, Owner, Plan, PlanError, PlanInfo, Trunc, clear,
};
use crate::proto::ext::{self, KnownMsb};
use crate::proto::{Cost, OtSession, Party, ProtoError, mult, relu, trunc};
use crate::ring;

/// Below this many units per connection an instruction stays on one connection: a slice
/// that small costs more in per-call overhead than it gains.
pub const MIN_UNITS_PER_CONNECTION: usize = 256;

/// The most connections a run may use.
pub const MAX_THREADS: usize = 64;

/// The most share elements one party may hold at once in a batched run (8 bytes each): 2 GiB.
pub const MAX_RUN_ELEMENTS: u64 = 1 << 28;

/// The most bytes one instruction of a batched run may exchange (a proxy for the protocols'
/// working memory, which is proportional): 2 GiB. A batch the peer asks for is bounded by it.
pub const MAX_INSTR_BYTES: u64 = 1 << 31;

/// How a run is laid out: samples per execution and parallel connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub batch: usize,
    pub threads: usize,
}

impl Shape {
    pub const ONE: Shape = Shape {
        batch: 1,
        threads: 1,
    };
}

/// Why an execution stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A protocol failed (the peer left, timed out, or sent what does not parse).
    #[error("instruction {instr} ({op}): {source}")]
    Instr {
        instr: usize,
        op: &'static str,
        source: ProtoError,
    },
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// This party's own data does not fit the plan, or the shape is out of bounds.
    #[error("{0}")]
    Input(String),
    /// The closing exchange of measurements failed.
    #[error("after the last instruction: {0}")]
    Closing(#[from] NetError),
    /// A flight could not be sent or read (the peer left, timed out, or sent what does not
    /// parse).
    #[error("instruction {instr} ({op}), flight {turn}: {source}")]
    Flight {
        turn: u64,
        /// The first instruction not yet done on this party.
        instr: usize,
        op: &'static str,
        source: NetError,
    },
    /// The jobs cannot complete in turns: the parties are out of step (never for a checked
    /// plan run by two parties of this build).
    #[error("{0}")]
    Schedule(String),
    /// The OT preprocessing (silent COT generation) failed.
    #[error("OT preprocessing: {0}")]
    OtPre(#[source] crate::ot::OtError),
}

/// This party's own data, as encodings in the plan's formats (declaration order).
#[derive(Clone, Copy, Debug)]
pub enum Own<'a> {
    /// The server's weights, one vector per `plan.params` entry.
    Server(&'a [Vec<u64>]),
    /// The client's inputs, one vector per `plan.inputs` entry, `batch` samples back to back.
    Client(&'a [Vec<u64>]),
}

/// What one instruction measured on this party's channels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measured {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Flights of both parties (the slowest connection when the instruction was split).
    pub rounds: u64,
}

/// A finished execution, from one party's side.
#[derive(Debug)]
pub struct Execution {
    /// The client's outputs (`plan.outputs` order, `batch` samples back to back); `None` on
    /// the server, which learns nothing.
    pub outputs: Option<Vec<Vec<u64>>>,
    /// Per instruction.
    pub instrs: Vec<Measured>,
    /// Per instruction, its input-independent preprocessing (run before the first
    /// instruction, after the setup; zero for most).
    pub pre: Vec<Measured>,
    /// What the connections carried before the first instruction (handshake, session
    /// agreement, OT setup), both directions.
    pub setup: Stats,
    /// The silent COT generation ([`ot_session`]; zero on IKNP), both directions: after the
    /// setup, before the input is used. Its exact cost is [`OtSession::preprocess_cost`].
    pub ot_pre: Stats,
    /// How long it took.
    pub ot_pre_wall: Duration,
    /// Of `wall`, the part until this party ended the last preprocessing job (the masks of
    /// polynomials and products, which the first protocols wait for); zero without any.
    pub pre_wall: Duration,
    /// The flights' headers ([`mux`]): bytes sent and received, and this party's flights.
    pub framing: Stats,
    /// The closing exchange of flush counts, both directions.
    pub closing: Stats,
    /// Everything this party's connections carried.
    pub total: Stats,
    /// From the first instruction's start to the last one's end.
    pub wall: Duration,
    /// The run's latency units on its critical path, by phase; `None` when the peer's flight
    /// log did not describe a run with ours.
    pub latency: Option<Latency>,
}

/// The latency units a run's critical path grew by in each phase: the preprocessing, then
/// every instruction ([`latency`]). Their sum is the run's latency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    pub pre: u64,
    pub instrs: Vec<u64>,
}

impl Latency {
    pub fn total(&self) -> u64 {
        self.pre + self.instrs.iter().sum::<u64>()
    }

    /// The critical path's charges ([`latency::critical_path`]) of jobs that ended at `end`.
    fn of(jobs: &driver::Jobs, end: &[u64]) -> Latency {
        let share = latency::critical_path(&jobs.deps, end);
        let mut l = Latency {
            pre: 0,
            instrs: vec![0; jobs.pre.len()],
        };
        for (w, c) in jobs.work.iter().zip(share) {
            match w {
                driver::Work::Instr(k) => l.instrs[*k] += c,
                driver::Work::Pre(_) => l.pre += c,
            }
        }
        l
    }
}

/// The unit ranges an instruction of `units` units is split into, one per connection.
pub fn pieces(op: &OpInfo, units: usize, threads: usize) -> Vec<Range<usize>> {
    let t = threads.max(1);
    if !op.splits || t == 1 || units < t * MIN_UNITS_PER_CONNECTION {
        return std::iter::once(0..units).collect();
    }
    (0..t).map(|i| units * i / t..units * (i + 1) / t).collect()
}

/// Checks a run shape against the plan: thread count, and that a batch fits the memory and
/// math-instruction bounds (before anything is allocated or sent).
pub fn check_shape(plan: &Plan, shape: Shape) -> Result<(), ExecError> {
    if shape.threads == 0 || shape.threads > MAX_THREADS {
        return Err(ExecError::Input(format!(
            "{} connections: use 1 to {MAX_THREADS}",
            shape.threads
        )));
    }
    let limit = max_batch(plan);
    if shape.batch == 0 || shape.batch > limit {
        return Err(ExecError::Input(format!(
            "a batch of {} samples: this plan runs 1 to {limit} samples at once",
            shape.batch
        )));
    }
    Ok(())
}

/// The largest batch this plan runs in one execution: every party's shares within
/// [`MAX_RUN_ELEMENTS`], every instruction's traffic within [`MAX_INSTR_BYTES`], every math
/// instruction within [`crate::plan::MAX_MATH_ELEMENTS`].
pub fn max_batch(plan: &Plan) -> usize {
    let ps = plan.per_sample();
    let (mut per, mut fixed) = (0u64, 0u64);
    for (t, &p) in plan.tensors.iter().zip(&ps) {
        if p {
            per += t.numel() as u64;
        } else {
            fixed += t.numel() as u64;
        }
    }
    let mut limit = MAX_RUN_ELEMENTS.saturating_sub(fixed) / per.max(1);
    for ins in &plan.instrs {
        if !ps[ins.out] {
            continue;
        }
        let bytes = ins.cost.server_bytes + ins.cost.client_bytes;
        limit = limit.min(MAX_INSTR_BYTES / bytes.max(1));
        if let Op::Math { .. } = ins.op {
            let n = plan.tensors[ins.args[0]].numel().max(1) as u64;
            limit = limit.min(crate::plan::MAX_MATH_ELEMENTS as u64 / n);
        }
    }
    limit.clamp(1, u32::MAX as u64) as usize
}

/// A bound on what one party holds in a run of `batch` samples, in bytes: every tensor's
/// shares (8 bytes an element) three times over — the values, an operand's copy, a protocol's
/// buffers of the same order — and on silent OT the COT pools ([`silent_pool_bytes`]). Used
/// to refuse, before allocating, runs beyond a memory budget.
pub fn bytes_needed(plan: &Plan, batch: usize) -> u64 {
    let ps = plan.per_sample();
    let elems: u64 = plan
        .tensors
        .iter()
        .zip(&ps)
        .map(|(t, &p)| t.numel() as u64 * if p { batch as u64 } else { 1 })
        .sum();
    elems
        .saturating_mul(24)
        .saturating_add(silent_pool_bytes(plan, batch))
}

/// What one party's silent COT pools take in a run of `batch` samples (zero on IKNP): 17 bytes
/// a COT (a 128-bit key or MAC and a choice bit), at most `batch` times one sample's COTs, and
/// the generation's working set (a main iteration's outputs and the next one's inputs, 346 MB).
pub fn silent_pool_bytes(plan: &Plan, batch: usize) -> u64 {
    if plan.ot == OtKind::Iknp {
        return 0;
    }
    let Some(one) = plan
        .check()
        .ok()
        .and_then(|info| ot_session(plan, &info, Shape::ONE).ok())
    else {
        return u64::MAX;
    };
    let cots = (one.demand[0] + one.demand[1]).saturating_mul(batch as u64);
    // A main iteration's working set whatever the batch (a setup iteration's is smaller), so
    // that the bound grows linearly with the batch (`max_batch_within` extrapolates it).
    let working = crate::ot::silent::MAIN.n as u64 * 16 * 2;
    cots.saturating_mul(17).saturating_add(working)
}

/// The largest batch within `budget` bytes ([`bytes_needed`]) and [`max_batch`]; 0 when not
/// even one sample fits.
pub fn max_batch_within(plan: &Plan, budget: u64) -> usize {
    let one = bytes_needed(plan, 1);
    if one > budget {
        return 0;
    }
    let per = bytes_needed(plan, 2) - one;
    let extra = (budget - one) / per.max(1);
    max_batch(plan).min(extra.saturating_add(1).min(u32::MAX as u64) as usize)
}

/// The exact cost of every instruction in a run of this shape: per connection slice from the
/// protocols' cost functions, bytes added, rounds of the slowest slice.
pub fn estimate(plan: &Plan, info: &PlanInfo, shape: Shape) -> Result<Vec<Cost>, ExecError> {
    per_instr(plan, info, shape, |k, ins, units| {
        if ins.op.family == Family::Local {
            return Ok(Cost::ZERO);
        }
        let mut total = Cost::ZERO;
        for r in pieces(&ins.op, units, shape.threads) {
            let c = ins
                .kernel
                .cost(r.len())
                .map_err(|why| PlanError::Instr {
                    instr: k,
                    op: ins.op.name,
                    why,
                })?
                .on(info.ot);
            total.server_bytes += c.server_bytes;
            total.client_bytes += c.client_bytes;
            total.rounds = total.rounds.max(c.rounds);
        }
        Ok(total)
    })
}

/// The OT session a run of this shape needs on its first connection (where every task's OTs
/// come from): on silent OT, the COTs of all its tasks, generated before the input is used.
pub fn ot_session(plan: &Plan, info: &PlanInfo, shape: Shape) -> Result<OtSession, ExecError> {
    Ok(match info.ot {
        OtKind::Iknp => OtSession::IKNP,
        OtKind::Silent => {
            let cots = driver::Jobs::of(plan, info, shape)?.task_cots(plan, info)?;
            OtSession {
                kind: OtKind::Silent,
                demand: cots.iter().fold([0, 0], |a, c| [a[0] + c[0], a[1] + c[1]]),
            }
        }
    })
}

/// The exact cost of every instruction's preprocessing in a run of this shape (on the first
/// connection, before the first instruction).
pub fn estimate_pre(plan: &Plan, info: &PlanInfo, shape: Shape) -> Result<Vec<Cost>, ExecError> {
    per_instr(plan, info, shape, |_, ins, units| {
        Ok(ins.kernel.pre_cost(units).on(info.ot))
    })
}

/// The latency units a run of this shape takes ([`latency`]): its whole length, and how much
/// the preprocessing and every instruction lengthen its critical path — what [`execute`]
/// measures.
pub fn estimate_latency(plan: &Plan, info: &PlanInfo, shape: Shape) -> Result<Latency, ExecError> {
    let jobs = driver::Jobs::of(plan, info, shape)?;
    let sched = jobs.simulate(plan, info)?;
    let end: Vec<u64> = (0..jobs.work.len()).map(|j| sched.end(j)).collect();
    Ok(Latency::of(&jobs, &end))
}

/// The turns a run of this shape takes ([`latency::Schedule`]): every job's end on each party,
/// the flights and the framing bytes each party sends.
pub fn estimate_schedule(
    plan: &Plan,
    info: &PlanInfo,
    shape: Shape,
) -> Result<latency::Schedule, ExecError> {
    driver::Jobs::of(plan, info, shape)?.simulate(plan, info)
}

/// The turn at which each instruction ends (on both parties) in a run of this shape: the
/// schedule [`estimate_schedule`] prices, per instruction (for timelines).
pub fn estimate_ends(plan: &Plan, info: &PlanInfo, shape: Shape) -> Result<Vec<u64>, ExecError> {
    let jobs = driver::Jobs::of(plan, info, shape)?;
    let schedule = jobs.simulate(plan, info)?;
    let mut ends = vec![0u64; plan.instrs.len()];
    for (j, w) in jobs.work.iter().enumerate() {
        if let driver::Work::Instr(k) = w {
            ends[*k] = ends[*k].max(schedule.end(j));
        }
    }
    Ok(ends)
}

/// `of(k, instruction, units)` for every instruction, with its units in a run of this shape.
fn per_instr<T>(
    plan: &Plan,
    info: &PlanInfo,
    shape: Shape,
    of: impl Fn(usize, &InstrInfo, usize) -> Result<T, ExecError>,
) -> Result<Vec<T>, ExecError> {
    check_shape(plan, shape)?;
    info.instrs
        .iter()
        .enumerate()
        .map(|(k, ins)| of(k, ins, run_units(plan, info, k, shape.batch)))
        .collect()
}

/// Instruction `k`'s units in a run of `batch` samples (once for what the weights alone
/// determine).
fn run_units(plan: &Plan, info: &PlanInfo, k: usize, batch: usize) -> usize {
    info.instrs[k].units * samples(info, plan.instrs[k].out, batch)
}

/// How many values tensor `t` holds in a run of `batch` samples.
fn samples(info: &PlanInfo, t: usize, batch: usize) -> usize {
    if info.per_sample[t] { batch } else { 1 }
}

/// One party's run of `plan` over `parties` (one per connection, set up with the peer; the
/// first carries the flights' headers). Every instruction starts as soon as its operands are
/// ready and the parties take turns, each turn one flight carrying every running protocol's
/// messages ([`driver`]). `progress` hears (instructions done, of how many, bytes both ways so
/// far) after each of this party's turns.
pub fn execute(
    parties: &mut [Party],
    plan: &Plan,
    info: &PlanInfo,
    batch: usize,
    own: Own<'_>,
    progress: &mut dyn FnMut(usize, usize, u64),
) -> Result<Execution, ExecError> {
    let start = Instant::now();
    let shape = Shape {
        batch,
        threads: parties.len(),
    };
    let jobs = driver::Jobs::of(plan, info, shape)?;
    let role = parties[0].role;
    let setup = sum_stats(parties);
    // The OT preprocessing, before the input is read: every task's COTs on the first
    // connection, which every task forks from.
    let session = ot_session(plan, info, shape)?;
    if session.kind == OtKind::Silent {
        let p = &mut parties[0];
        p.ot.preprocess_silent(&mut *p.io, session.demand)
            .map_err(ExecError::OtPre)?;
    }
    let ot_pre = sum_stats(parties) - setup;
    let ot_pre_wall = start.elapsed();
    let start = Instant::now();
    let vals = initial_values(plan, batch, own, role)?
        .into_iter()
        .map(|v| v.map(Arc::new))
        .collect();
    let mut run = driver::Run {
        plan,
        info,
        batch,
        role,
        vals,
    };
    let m = driver::drive(parties, &mut run, &jobs, progress)?;
    let wall = start.elapsed();
    let pre_wall = m
        .pre_end
        .map_or(Duration::ZERO, |t| t.duration_since(start));
    let before_closing = sum_stats(parties);
    // Both parties' flights per task and ends per job, for the rounds and the latency.
    let mine: Vec<Vec<u64>> = m
        .task_flights
        .iter()
        .chain(&m.finish)
        .map(|&f| vec![f])
        .collect();
    let theirs = exchange_flushes(&mut parties[0], &mine)?;
    let theirs: Vec<u64> = theirs.iter().map(|r| r[0]).collect();
    let (their_flights, their_finish) = theirs.split_at(m.task_flights.len());
    let n = plan.instrs.len();
    let mut instrs = vec![Measured::default(); n];
    let mut pre = vec![Measured::default(); n];
    let mut task = 0;
    for (j, w) in jobs.work.iter().enumerate() {
        let mut meas = m.jobs[j];
        for _ in &jobs.pieces[j] {
            meas.rounds = meas.rounds.max(m.task_flights[task] + their_flights[task]);
            task += 1;
        }
        match w {
            driver::Work::Instr(k) => instrs[*k] = meas,
            driver::Work::Pre(k) => pre[*k] = meas,
        }
    }
    let end: Vec<u64> = m
        .finish
        .iter()
        .zip(their_finish)
        .map(|(a, b)| *a.max(b))
        .collect();
    let latency = Some(Latency::of(&jobs, &end));
    let total = sum_stats(parties);
    let outputs = match role {
        Role::Server => None,
        Role::Client => Some(collect_outputs(plan, info, &run.vals, batch)?),
    };
    Ok(Execution {
        outputs,
        instrs,
        pre,
        setup,
        ot_pre,
        ot_pre_wall,
        pre_wall,
        framing: m.framing,
        closing: total - before_closing,
        total,
        wall,
        latency,
    })
}

fn sum_stats(parties: &[Party]) -> Stats {
    parties.iter().fold(Stats::default(), |a, p| {
        let s = p.stats();
        Stats {
            bytes_sent: a.bytes_sent + s.bytes_sent,
            bytes_received: a.bytes_received + s.bytes_received,
            messages_sent: a.messages_sent + s.messages_sent,
            messages_received: a.messages_received + s.messages_received,
            flushes: a.flushes + s.flushes,
            rounds: a.rounds + s.rounds,
        }
    })
}

/// The values this party starts with: public constants, and its own inputs or weights.
fn initial_values(
    plan: &Plan,
    batch: usize,
    own: Own<'_>,
    role: Role,
) -> Result<Vec<Option<Vec<u64>>>, ExecError> {
    let mut vals: Vec<Option<Vec<u64>>> = vec![None; plan.tensors.len()];
    for (i, t) in plan.tensors.iter().enumerate() {
        if t.owner == Owner::Public {
            let v = t.value.as_deref().unwrap_or(&[]);
            vals[i] = Some(v.iter().map(|&x| ring::reduce(x as u64, t.bits)).collect());
        }
    }
    let (ios, given, samples, what) = match (own, role) {
        (Own::Server(w), Role::Server) => (&plan.params, w, 1, "weight"),
        (Own::Client(x), Role::Client) => (&plan.inputs, x, batch, "input"),
        _ => {
            return Err(ExecError::Input(
                "a party runs with its own data only (the server its weights, the client its input)"
                    .into(),
            ));
        }
    };
    if ios.len() != given.len() {
        return Err(ExecError::Input(format!(
            "{} {what}s given, the plan has {}",
            given.len(),
            ios.len()
        )));
    }
    for (io, v) in ios.iter().zip(given) {
        let t = &plan.tensors[io.tensor];
        if v.len() != t.numel() * samples {
            return Err(ExecError::Input(format!(
                "{what} `{}` has {} values, the plan expects {} × {:?}",
                io.name,
                v.len(),
                samples,
                t.shape
            )));
        }
        vals[io.tensor] = Some(v.iter().map(|&x| ring::reduce(x, t.bits)).collect());
    }
    Ok(vals)
}

fn missing(plan: &Plan, k: usize) -> ExecError {
    ExecError::Input(format!(
        "instruction {k} ({}) reads a value this party does not hold",
        plan.instrs[k].op.name()
    ))
}

/// Operand `a` of sample `s` (the whole value for one held once for the batch).
fn sample<'v>(plan: &Plan, v: &'v [u64], per: bool, a: usize, s: usize) -> &'v [u64] {
    if per {
        let m = plan.tensors[a].numel();
        &v[s * m..(s + 1) * m]
    } else {
        v
    }
}

/// A local instruction on this party's shares, sample by sample. Linear maps of shares are
/// shares of the linear map, so the cleartext step serves — except where a public constant
/// enters: only the server adds it (and embeds it), the client keeps its share.
fn local(
    plan: &Plan,
    info: &PlanInfo,
    k: usize,
    role: Role,
    vals: &[Option<Arc<Vec<u64>>>],
    batch: usize,
) -> Result<Option<Vec<u64>>, ExecError> {
    let ins = &plan.instrs[k];
    let out = &plan.tensors[ins.out];
    // The server rearranging its own weights: the client holds nothing.
    if out.owner == Owner::Server && role == Role::Client {
        return Ok(None);
    }
    let args: Vec<&[u64]> = ins
        .args
        .iter()
        .map(|&a| {
            vals[a]
                .as_deref()
                .map(Vec::as_slice)
                .ok_or_else(|| missing(plan, k))
        })
        .collect::<Result<_, _>>()?;
    let one = |s: usize| -> Result<Vec<u64>, ExecError> {
        let xs: Vec<&[u64]> = ins
            .args
            .iter()
            .zip(&args)
            .map(|(&a, v)| sample(plan, v, info.per_sample[a], a, s))
            .collect();
        Ok(match (&ins.op, role) {
            (Op::Embed, Role::Client) => vec![0; out.numel()],
            (Op::AddPublic, Role::Client) => xs[0].to_vec(),
            _ => clear::step(plan, k, &xs)?,
        })
    };
    let samples = samples(info, ins.out, batch);
    if samples == 1 {
        return one(0).map(Some);
    }
    let parts: Vec<Vec<u64>> = (0..samples)
        .into_par_iter()
        .map(one)
        .collect::<Result<_, _>>()?;
    Ok(Some(parts.concat()))
}

/// One slice (units `r`) of a protocol instruction on one connection.
fn piece(
    p: &mut Party,
    kernel: &Kernel,
    x: &[u64],
    y: &[u64],
    r: std::ops::Range<usize>,
    masks: Option<&crate::proto::masked::Masks>,
) -> Result<Vec<u64>, ProtoError> {
    let units = r.len();
    match kernel {
        Kernel::Extend {
            from,
            to,
            nonneg: true,
        } => {
            let zeros = vec![0u8; x.len()];
            ext::zext_known_msb(p, x, *from, *to, KnownMsb::Public(&zeros))
        }
        Kernel::Extend {
            from,
            to,
            nonneg: false,
        } => ext::sext(p, x, *from, *to),
        Kernel::Truncate { bits, shift, mode } => match mode {
            Trunc::Reduce => trunc::trunc_reduce(p, x, *bits, *shift),
            Trunc::Ars => trunc::ars(p, x, *bits, *shift),
            Trunc::ArsRound => trunc::ars_round(p, x, *bits, *shift),
        },
        Kernel::Mult(params) => mult::mult(p, params, x, y),
        Kernel::MatMul {
            params,
            masked: false,
        } => mult::matmul_full(p, &Kernel::matmul_rows(params, units), x, y),
        Kernel::MatMul {
            params,
            masked: true,
        } => {
            let masks = masks.ok_or_else(|| {
                ProtoError::Invariant("the product's preprocessing is missing".into())
            })?;
            let rows = masks.rows(r, params.dims.d2, params.dims.d3);
            mult::matmul_masked_full(p, &Kernel::matmul_rows(params, units), rows, x, y)
        }
        Kernel::MatMulShared { params } => {
            let d1 = params.dims.d1.max(1);
            let rows = Kernel::matmul_rows(params, units);
            mult::matmul_shared_full(p, &rows, (d1, r.start % d1), x, y)
        }
        Kernel::Math { func, params } => func.eval(p, x, params),
        Kernel::Relu { bits } => relu::relu(p, x, *bits),
        Kernel::BlockRelu {
            shape,
            patches,
            bits,
            sum_bits,
        } => relu::block_relu(p, x, y, *shape, patches, *bits, *sum_bits),
        // Run whole by `protocol`, or not a protocol at all.
        Kernel::Local | Kernel::Share { .. } | Kernel::Reveal { .. } | Kernel::Poly { .. } => Err(
            ProtoError::Invariant(format!("{kernel:?} is not run in slices")),
        ),
    }
}

/// The client's outputs, `batch` samples each (an output computed from the weights alone is
/// the same for every sample).
fn collect_outputs(
    plan: &Plan,
    info: &PlanInfo,
    vals: &[Option<Arc<Vec<u64>>>],
    batch: usize,
) -> Result<Vec<Vec<u64>>, ExecError> {
    plan.outputs
        .iter()
        .map(|o| {
            let v = vals[o.tensor].as_deref().ok_or_else(|| {
                ExecError::Input(format!("output `{}` was never revealed", o.name))
            })?;
            Ok(if info.per_sample[o.tensor] {
                v.to_vec()
            } else {
                v.repeat(batch)
            })
        })
        .collect()
}

/// Both parties' flush counts per instruction and connection: the server sends first, the
/// client answers. Sizes are public (the plan and the shape), so each side knows how much to
/// read; nothing here depends on a secret.
fn exchange_flushes(p: &mut Party, mine: &[Vec<u64>]) -> Result<Vec<Vec<u64>>, NetError> {
    let enc: Vec<u8> = mine
        .iter()
        .flatten()
        .flat_map(|&f| (f.min(u32::MAX as u64) as u32).to_le_bytes())
        .collect();
    let mut buf = vec![0u8; enc.len()];
    if p.is_server() {
        p.io.send(&enc)?;
        p.io.recv(&mut buf)?;
    } else {
        p.io.recv(&mut buf)?;
        p.io.send(&enc)?;
        p.io.end_flight()?;
    }
    let mut words = buf
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
    Ok(mine
        .iter()
        .map(|row| row.iter().map(|_| words.next().unwrap_or(0)).collect())
        .collect())
}
