//! The engine under [`super::execute`]: every job of the plan (an instruction, or a polynomial's
//! preprocessing) starts as soon as the jobs it reads are done, each protocol piece on its own
//! thread with its own [`Party`] (a fork of the connection's: its own OT stream and CSPRNG), and
//! the parties take turns sending one flight that carries every task's messages
//! ([`super::mux`], [`super::latency`] for the rules and why).
//!
//! Determinism: what a party sends in a turn depends only on the flights it has read, because
//! it sends only once every task has run as far as it can (quiescence). So the turns, the
//! flights' framing and every job's end are the same on every run of a plan and shape, and
//! equal to what [`super::latency::simulate`] predicts.
//!
//! Security: the tasks' order of execution varies between the parties, so nothing shared
//! between tasks may be consumed in an order that matters. Each task's OT engine is the n-th
//! fork of the connection's, made in task order by both parties before the first turn; forks
//! draw PRG blocks and hash tweaks from disjoint streams, so no correlation is produced twice
//! and both parties' n-th forks agree whatever runs first (docs/security.md).

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;

use super::latency::{self, Job, Schedule};
use super::mux::{Mux, Stop, TaskWire, Wake};
use super::pool::Pool;
use super::{
    ExecError, Measured, Shape, check_shape, local, missing, piece, pieces, run_units, samples,
};
use crate::net::{NetError, Role, Stats, Wire};
use crate::ot::OtKind;
use crate::plan::{Family, Kernel, Plan, PlanError, PlanInfo};
use crate::proto::masked::{self, Masks};
use crate::proto::poly::{self, PowerTuples};
use crate::proto::{Party, ProtoError, share};
use crate::ring;

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Instruction `k`.
    Instr(usize),
    /// The preprocessing of instruction `k` (a polynomial's mask powers).
    Pre(usize),
}

impl Work {
    pub fn instr(self) -> usize {
        match self {
            Work::Instr(k) | Work::Pre(k) => k,
        }
    }
}

/// A run's jobs: instructions first (job k is instruction k), then the preprocessing jobs.
#[derive(Clone, Debug)]
pub struct Jobs {
    pub work: Vec<Work>,
    pub deps: Vec<Vec<usize>>,
    /// The unit ranges each job runs as, one task each (none: a local job).
    pub pieces: Vec<Vec<Range<usize>>>,
    /// Each instruction's preprocessing job.
    pub pre: Vec<Option<usize>>,
}

impl Jobs {
    /// The jobs of a run of this shape.
    pub fn of(plan: &Plan, info: &PlanInfo, shape: Shape) -> Result<Jobs, ExecError> {
        check_shape(plan, shape)?;
        let n = plan.instrs.len();
        let mut producer = vec![None; plan.tensors.len()];
        for (k, ins) in plan.instrs.iter().enumerate() {
            producer[ins.out] = Some(k);
        }
        let mut jobs = Jobs {
            work: (0..n).map(Work::Instr).collect(),
            deps: Vec::with_capacity(n),
            pieces: Vec::with_capacity(n),
            pre: vec![None; n],
        };
        for (k, ins) in plan.instrs.iter().enumerate() {
            let mut d: Vec<usize> = ins.args.iter().filter_map(|&a| producer[a]).collect();
            d.sort_unstable();
            d.dedup();
            jobs.deps.push(d);
            let units = run_units(plan, info, k, shape.batch);
            let info = &info.instrs[k];
            jobs.pieces.push(match &info.kernel {
                _ if info.op.family == Family::Local => Vec::new(),
                Kernel::Share { .. } | Kernel::Reveal { .. } | Kernel::Poly { .. } => {
                    std::iter::once(0..units).collect()
                }
                _ => pieces(&info.op, units, shape.threads),
            });
        }
        for k in 0..n {
            if info.instrs[k].kernel.has_pre() {
                let j = jobs.work.len();
                jobs.work.push(Work::Pre(k));
                // A masked product's preprocessing multiplies by W, which local instructions
                // may derive from the weights (never from the input).
                let w = match info.instrs[k].kernel {
                    Kernel::MatMul { .. } => producer[plan.instrs[k].args[1]],
                    _ => None,
                };
                jobs.deps.push(w.into_iter().collect());
                jobs.pieces
                    .push(std::iter::once(0..run_units(plan, info, k, shape.batch)).collect());
                jobs.deps[k].push(j);
                jobs.pre[k] = Some(j);
            }
        }
        // The preprocessing is a phase of its own: the first protocols (those no protocol
        // precedes) wait for all of it, so the input is used only after it and its time is
        // measured apart.
        let pre_jobs: Vec<usize> = (n..jobs.work.len()).collect();
        if !pre_jobs.is_empty() {
            let mut after_protocol = vec![false; n];
            for k in 0..n {
                let local = info.instrs[k].op.family == Family::Local;
                let mut before = false;
                for &d in jobs.deps[k].iter().filter(|&&d| d < n) {
                    before |= after_protocol[d] || info.instrs[d].op.family != Family::Local;
                }
                after_protocol[k] = before;
                if !local && !before {
                    jobs.deps[k].extend(&pre_jobs);
                    jobs.deps[k].sort_unstable();
                    jobs.deps[k].dedup();
                }
            }
        }
        Ok(jobs)
    }

    /// The silent COTs each task consumes, in task order (job by job, piece by piece), by
    /// OT sender ([`crate::proto::Cost::silent_cots`]): what its fork takes from the pool.
    pub fn task_cots(&self, plan: &Plan, info: &PlanInfo) -> Result<Vec<[u64; 2]>, ExecError> {
        let mut out = Vec::new();
        for (w, pieces) in self.work.iter().zip(&self.pieces) {
            let k = w.instr();
            let kernel = &info.instrs[k].kernel;
            for r in pieces {
                let c = match w {
                    Work::Pre(_) => kernel.pre_cost(r.len()),
                    Work::Instr(_) => kernel.cost(r.len()).map_err(|why| PlanError::Instr {
                        instr: k,
                        op: plan.instrs[k].op.name(),
                        why,
                    })?,
                };
                out.push(c.silent_cots());
            }
        }
        Ok(out)
    }

    /// The flights of every job's pieces, for [`latency::simulate`].
    pub fn flows(&self, plan: &Plan, info: &PlanInfo) -> Result<Vec<Job>, ExecError> {
        self.work
            .iter()
            .zip(&self.deps)
            .zip(&self.pieces)
            .map(|((w, deps), pieces)| {
                let k = w.instr();
                let kernel = &info.instrs[k].kernel;
                let flows = pieces
                    .iter()
                    .map(|r| match w {
                        Work::Pre(_) => Ok(kernel.pre_flow(r.len(), info.ot)),
                        Work::Instr(_) => {
                            kernel
                                .flow(r.len(), info.ot)
                                .map_err(|why| PlanError::Instr {
                                    instr: k,
                                    op: plan.instrs[k].op.name(),
                                    why,
                                })
                        }
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Job {
                    deps: deps.clone(),
                    pieces: flows,
                })
            })
            .collect()
    }

    /// The schedule a run of these jobs follows.
    pub fn simulate(&self, plan: &Plan, info: &PlanInfo) -> Result<Schedule, ExecError> {
        latency::simulate(&self.flows(plan, info)?).map_err(ExecError::Schedule)
    }

    fn tasks(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }
}

/// What a task hands back.
enum Output {
    /// This piece's output shares (`None`: this party receives nothing, e.g. the server at a
    /// reveal).
    Values(Option<Vec<u64>>),
    Prepared(Prepared),
}

/// A preprocessing job's output, kept until its instruction runs.
enum Prepared {
    /// A polynomial's mask powers (taken whole by its one task).
    Powers(PowerTuples),
    /// A masked product's R and R·W shares (each piece takes its rows).
    Masks(Arc<Masks>),
}

/// A task's report when its thread ends.
struct Done {
    task: usize,
    result: Result<Output, ProtoError>,
    stats: Stats,
}

/// One party's side of a run, as [`super::execute`] hands it over.
pub struct Run<'a> {
    pub plan: &'a Plan,
    pub info: &'a PlanInfo,
    pub batch: usize,
    pub role: Role,
    pub vals: Vec<Option<Arc<Vec<u64>>>>,
}

/// What a run measured, per job and in total.
pub struct Measure {
    /// Per job: bytes and this party's flights, summed over its pieces; `rounds` holds the
    /// largest piece's flights.
    pub jobs: Vec<Measured>,
    /// Per task: this party's flights (to pair with the peer's).
    pub task_flights: Vec<u64>,
    /// Per job: the turn at which this party finished it.
    pub finish: Vec<u64>,
    /// Framing bytes sent and received, flights sent.
    pub framing: Stats,
    /// When this party ended the last preprocessing job (none: the plan has none).
    pub pre_end: Option<std::time::Instant>,
}

/// Runs every job to its end, taking turns with the peer over `parties` (the first carries the
/// flights' headers; a split job's piece i travels on connection i mod the connection count).
pub fn drive(
    parties: &mut [Party],
    run: &mut Run<'_>,
    jobs: &Jobs,
    progress: &mut dyn FnMut(usize, usize, u64),
) -> Result<Measure, ExecError> {
    let ntasks = jobs.tasks();
    let role = run.role;
    let mut owner = Vec::with_capacity(ntasks);
    let mut lane = Vec::with_capacity(ntasks);
    let mut first = Vec::with_capacity(jobs.work.len());
    for (j, ps) in jobs.pieces.iter().enumerate() {
        first.push(owner.len());
        for i in 0..ps.len() {
            owner.push(j);
            lane.push(i % parties.len());
        }
    }
    // The connections belong to the turns while the run lasts.
    let wires: Vec<Box<dyn Wire>> = parties
        .iter_mut()
        .map(|p| std::mem::replace(&mut p.io, Box::new(Lent)))
        .collect();
    let mux = Arc::new(Mux::new(role, wires, lane, jobs.work.len()));
    let result = run_jobs(parties, run, jobs, &mux, &owner, first, progress);
    let (wires, framing) = mux.take_io();
    for (p, w) in parties.iter_mut().zip(wires) {
        p.io = w;
    }
    let mut m = result?;
    m.framing = framing;
    Ok(m)
}

/// [`drive`] with the connections in the mux.
fn run_jobs(
    parties: &mut [Party],
    run: &mut Run<'_>,
    jobs: &Jobs,
    mux: &Arc<Mux>,
    owner: &[usize],
    first: Vec<usize>,
    progress: &mut dyn FnMut(usize, usize, u64),
) -> Result<Measure, ExecError> {
    let ntasks = owner.len();
    // Every task's party, forked in task order before anything runs, each with the silent
    // COTs its work consumes (none on IKNP).
    let cots = match parties[0].ot_kind() {
        OtKind::Iknp => vec![[0, 0]; ntasks],
        OtKind::Silent => jobs.task_cots(run.plan, run.info)?,
    };
    let mut forks: Vec<Option<Party>> = Vec::with_capacity(ntasks);
    for (t, &j) in owner.iter().enumerate() {
        let p = parties[0]
            .fork_with(Box::new(TaskWire::new(mux.clone(), t)), cots[t])
            .map_err(|source| at(run.plan, jobs.work[j].instr(), source))?;
        forks.push(Some(p));
    }
    let (tx, rx) = mpsc::channel::<Done>();
    let plan = run.plan;
    let n_instrs = plan.instrs.len();
    let role = run.role;
    let mut st = State {
        run,
        jobs,
        first,
        owner,
        waiting: jobs.deps.iter().map(Vec::len).collect(),
        dependents: dependents(&jobs.deps),
        left: jobs.pieces.iter().map(Vec::len).collect(),
        outputs: jobs.pieces.iter().map(|p| vec![None; p.len()]).collect(),
        prepared: (0..jobs.work.len()).map(|_| None).collect(),
        readers: readers(plan),
        ready: (0..jobs.work.len())
            .filter(|&j| jobs.deps[j].is_empty())
            .collect(),
        ended: vec![false; jobs.work.len()],
        done: 0,
        instrs_done: 0,
        measure: Measure {
            jobs: vec![Measured::default(); jobs.work.len()],
            task_flights: vec![0; ntasks],
            finish: vec![0; jobs.work.len()],
            framing: Stats::default(),
            pre_end: None,
        },
        forks,
    };
    std::thread::scope(|scope| {
        // However the loop ends, parked tasks wake (with an error if the run did not finish)
        // before the scope joins them.
        let _stop = StopOnDrop(mux);
        let pool = Pool::new(scope);
        let _close = CloseOnDrop(&pool);
        // The server's first turn follows the client's first flight.
        if role == Role::Server {
            mux.driver_step();
        }
        loop {
            while let Some(j) = st.ready.pop() {
                st.start(j, mux, &tx, &pool)?;
            }
            match mux.wait() {
                Wake::Collect(k) => {
                    let turn = mux.turn();
                    for _ in 0..k {
                        let d = rx.recv().map_err(|_| {
                            at(
                                plan,
                                0,
                                ProtoError::Invariant("a task's report is lost".into()),
                            )
                        })?;
                        st.ended(d, turn, mux)?;
                    }
                }
                Wake::Step => mux.driver_step(),
                Wake::Over => return Ok(()),
                Wake::Failed(stop) => {
                    return Err(match stop {
                        Some(Stop::Net(turn, e)) => st.flight_error(turn, e),
                        Some(Stop::Stalled(turn)) => ExecError::Schedule(format!(
                            "at turn {turn} this party's jobs wait on flights its peer will \
                             not send (the parties' plans or protocols are out of step)"
                        )),
                        None => ExecError::Schedule("the run stopped".into()),
                    });
                }
            }
            if let Some(bytes) = mux.bytes() {
                progress(st.instrs_done, n_instrs, bytes);
            }
        }
    })?;
    Ok(st.measure)
}

/// A party's connection while the run's turns hold it: any use is a bug.
struct Lent;

impl Wire for Lent {
    fn send(&mut self, _: &[u8]) -> Result<(), NetError> {
        Err(lent())
    }
    fn recv(&mut self, _: &mut [u8]) -> Result<(), NetError> {
        Err(lent())
    }
    fn end_flight(&mut self) -> Result<(), NetError> {
        Err(lent())
    }
    fn end_exchange(&mut self) -> Result<(), NetError> {
        Err(lent())
    }
    fn stats(&self) -> Stats {
        Stats::default()
    }
    fn exchanges(&self) -> u64 {
        0
    }
}

fn lent() -> NetError {
    NetError::Io(std::io::Error::other(
        "the connection is lent to the run's flights",
    ))
}

/// Fails the mux when dropped: parked tasks wake and end.
struct StopOnDrop<'m>(&'m Mux);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fail();
    }
}

/// Closes the pool when dropped: its threads end.
struct CloseOnDrop<'p, 's, 'e>(&'p Pool<'s, 'e>);

impl Drop for CloseOnDrop<'_, '_, '_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Calls [`Mux::finished`] when the task's thread ends, however it ends.
struct FinishOnDrop(Arc<Mux>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finished();
    }
}

fn at(plan: &Plan, k: usize, source: ProtoError) -> ExecError {
    ExecError::Instr {
        instr: k,
        op: plan.instrs[k].op.name(),
        source,
    }
}

fn dependents(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); deps.len()];
    for (j, ds) in deps.iter().enumerate() {
        for &d in ds {
            out[d].push(j);
        }
    }
    out
}

/// How many instructions read each tensor (each reading instruction once).
fn readers(plan: &Plan) -> Vec<usize> {
    let mut n = vec![0; plan.tensors.len()];
    for ins in &plan.instrs {
        let mut args = ins.args.clone();
        args.sort_unstable();
        args.dedup();
        for a in args {
            n[a] += 1;
        }
    }
    n
}

struct State<'r, 'a, 'j> {
    run: &'r mut Run<'a>,
    jobs: &'j Jobs,
    /// Each job's first task.
    first: Vec<usize>,
    owner: &'r [usize],
    waiting: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    /// Pieces each job still runs.
    left: Vec<usize>,
    outputs: Vec<Vec<Option<Option<Vec<u64>>>>>,
    prepared: Vec<Option<Prepared>>,
    /// Instructions yet to start that read each tensor (dropped at zero).
    readers: Vec<usize>,
    ready: Vec<usize>,
    /// Jobs this party has finished.
    ended: Vec<bool>,
    done: usize,
    instrs_done: usize,
    measure: Measure,
    forks: Vec<Option<Party>>,
}

impl<'r, 'a, 'j> State<'r, 'a, 'j> {
    /// A flight failed: named by the first instruction this party has not finished.
    fn flight_error(&self, turn: u64, source: NetError) -> ExecError {
        let plan = self.run.plan;
        let instr = (0..plan.instrs.len())
            .find(|&k| !self.ended[k])
            .unwrap_or(plan.instrs.len().saturating_sub(1));
        ExecError::Flight {
            turn,
            instr,
            op: plan.instrs.get(instr).map_or("end", |i| i.op.name()),
            source,
        }
    }

    /// Job `j` ended on this party at `turn`.
    fn end_job(&mut self, j: usize, turn: u64, mux: &Mux) {
        mux.job_ended();
        self.measure.finish[j] = turn;
        self.ended[j] = true;
        self.done += 1;
        match self.jobs.work[j] {
            Work::Instr(_) => self.instrs_done += 1,
            Work::Pre(_) => self.measure.pre_end = Some(std::time::Instant::now()),
        }
        for i in 0..self.dependents[j].len() {
            let d = self.dependents[j][i];
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                self.ready.push(d);
            }
        }
    }

    fn start<'s>(
        &mut self,
        j: usize,
        mux: &Arc<Mux>,
        tx: &mpsc::Sender<Done>,
        pool: &Pool<'s, '_>,
    ) -> Result<(), ExecError>
    where
        'a: 's,
    {
        let work = self.jobs.work[j];
        let k = work.instr();
        let (plan, info): (&'a Plan, &'a PlanInfo) = (self.run.plan, self.run.info);
        if self.jobs.pieces[j].is_empty() {
            let run = &*self.run;
            let out = local(plan, info, k, run.role, &run.vals, run.batch)?;
            self.run.vals[plan.instrs[k].out] = out.map(Arc::new);
            self.release_operands(k);
            self.end_job(j, mux.turn(), mux);
            return Ok(());
        }
        let ops = self.operands(j).map_err(|e| at(plan, k, e))?;
        if let Work::Instr(_) = work {
            self.release_operands(k);
        }
        for (i, r) in self.jobs.pieces[j].clone().into_iter().enumerate() {
            let task = self.first[j] + i;
            let mut party = self.forks[task]
                .take()
                .ok_or_else(|| at(plan, k, ProtoError::Invariant("a task ran twice".into())))?;
            let ops = ops.clone();
            let tx = tx.clone();
            let guard = FinishOnDrop(mux.clone());
            mux.started();
            let spawned = pool.submit(move || {
                let _guard = guard;
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let out = body(&mut party, plan, info, k, work, &ops, r)?;
                    // Its last message ends its last flight (counted, as on a channel).
                    party.io.end_flight()?;
                    Ok(out)
                }))
                .unwrap_or_else(|_| Err(ProtoError::Invariant("a task panicked".into())));
                // The driver is gone only if the run already failed.
                let _ = tx.send(Done {
                    task,
                    result,
                    stats: party.io.stats(),
                });
            });
            if let Err(e) = spawned {
                return Err(at(
                    plan,
                    k,
                    ProtoError::Invariant(format!("cannot start a task thread: {e}")),
                ));
            }
        }
        Ok(())
    }

    /// Instruction `k` took its operands: tensors no instruction will read any more go.
    fn release_operands(&mut self, k: usize) {
        let mut args = self.run.plan.instrs[k].args.clone();
        args.sort_unstable();
        args.dedup();
        for a in args {
            self.readers[a] -= 1;
            let is_output = self.run.plan.outputs.iter().any(|o| o.tensor == a);
            if self.readers[a] == 0 && !is_output {
                self.run.vals[a] = None;
            }
        }
    }

    /// Job `j`'s operands on this party.
    fn operands(&mut self, j: usize) -> Result<Operands, ProtoError> {
        let run = &*self.run;
        let k = self.jobs.work[j].instr();
        let ins = &run.plan.instrs[k];
        let kernel = &run.info.instrs[k].kernel;
        let get = |a: usize| -> Result<Arc<Vec<u64>>, ProtoError> {
            run.vals[a]
                .clone()
                .ok_or_else(|| ProtoError::Invariant(missing(run.plan, k).to_string()))
        };
        let s = samples(run.info, ins.out, run.batch);
        let widen = |a: usize| -> Result<Arc<Vec<u64>>, ProtoError> {
            let v = get(a)?;
            Ok(if run.info.per_sample[a] || s == 1 {
                v
            } else {
                Arc::new(v.repeat(s))
            })
        };
        let empty = || Arc::new(Vec::new());
        if let Work::Pre(_) = self.jobs.work[j] {
            // A masked product's preprocessing multiplies by the server's W.
            let w = matches!(kernel, Kernel::MatMul { .. }) && run.role == Role::Server;
            return Ok(Operands {
                y: if w { get(ins.args[1])? } else { empty() },
                ..Operands::default()
            });
        }
        let mut ops = Operands {
            n: run.plan.tensors[ins.out].numel() * s,
            ..Operands::default()
        };
        match kernel {
            Kernel::Share { owner, .. } => {
                ops.x = (run.role == *owner).then(|| get(ins.args[0])).transpose()?;
            }
            Kernel::Reveal { .. } => ops.x = Some(get(ins.args[0])?),
            Kernel::Poly { .. } => {
                ops.x = Some(widen(ins.args[0])?);
                let pre = match self.jobs.pre[k].and_then(|p| self.prepared[p].take()) {
                    Some(Prepared::Powers(t)) => Some(t),
                    _ => None,
                };
                ops.tuples = Some(Arc::new(std::sync::Mutex::new(pre)));
            }
            // Block-ReLU's second operand: the sums' values (run whole, never sliced).
            Kernel::Mult(_) | Kernel::BlockRelu { .. } | Kernel::MatMulShared { .. } => {
                ops.x = Some(widen(ins.args[0])?);
                ops.y = widen(ins.args[1])?;
            }
            Kernel::MatMul { masked, .. } => {
                ops.x = Some(widen(ins.args[0])?);
                ops.y = match run.role {
                    Role::Server => get(ins.args[1])?,
                    Role::Client => empty(),
                };
                if *masked {
                    ops.masks = match self.jobs.pre[k].and_then(|p| self.prepared[p].take()) {
                        Some(Prepared::Masks(m)) => Some(m),
                        _ => None,
                    };
                }
            }
            _ => {
                ops.x = Some(widen(ins.args[0])?);
                ops.y = empty();
            }
        }
        Ok(ops)
    }

    /// A task's report: its piece's output is kept; the job ends with its last piece.
    fn ended(&mut self, d: Done, turn: u64, mux: &Mux) -> Result<(), ExecError> {
        let j = self.owner[d.task];
        let work = self.jobs.work[j];
        let k = work.instr();
        let plan = self.run.plan;
        let out = d.result.map_err(|e| at(plan, k, e))?;
        if mux.unread(d.task) > 0 {
            return Err(at(
                plan,
                k,
                ProtoError::Invariant("the protocol ended with the peer's bytes unread".into()),
            ));
        }
        let m = &mut self.measure.jobs[j];
        m.bytes_sent += d.stats.bytes_sent;
        m.bytes_received += d.stats.bytes_received;
        self.measure.task_flights[d.task] = d.stats.flushes;
        let i = d.task - self.first[j];
        match out {
            Output::Values(v) => self.outputs[j][i] = Some(v),
            Output::Prepared(t) => self.prepared[j] = Some(t),
        }
        self.left[j] -= 1;
        if self.left[j] > 0 {
            return Ok(());
        }
        if let Work::Instr(_) = work {
            let parts = std::mem::take(&mut self.outputs[j]);
            let mut all: Option<Vec<u64>> = None;
            for p in parts.into_iter().flatten().flatten() {
                all.get_or_insert_with(Vec::new).extend(p);
            }
            self.run.vals[plan.instrs[k].out] = all.map(Arc::new);
        }
        self.end_job(j, turn, mux);
        Ok(())
    }
}

/// What a job's tasks read: shared, since a split job's pieces read slices of the same values.
#[derive(Clone, Default)]
struct Operands {
    x: Option<Arc<Vec<u64>>>,
    y: Arc<Vec<u64>>,
    tuples: Option<Arc<std::sync::Mutex<Option<PowerTuples>>>>,
    /// A masked product's preprocessing (every piece reads its rows).
    masks: Option<Arc<Masks>>,
    /// Elements of the output (all samples).
    n: usize,
}

/// One task: piece `r` of job `work` on its own party.
fn body(
    p: &mut Party,
    plan: &Plan,
    info: &PlanInfo,
    k: usize,
    work: Work,
    ops: &Operands,
    r: Range<usize>,
) -> Result<Output, ProtoError> {
    let ins = &info.instrs[k];
    let kernel = &ins.kernel;
    if let Work::Pre(_) = work {
        return Ok(Output::Prepared(match kernel {
            Kernel::Poly { coeffs, bits } => Prepared::Powers(poly::preprocess(
                p,
                r.len(),
                coeffs.len().saturating_sub(1),
                *bits,
            )?),
            Kernel::MatMul {
                params,
                masked: true,
            } => Prepared::Masks(Arc::new(masked::matmul_pre(
                p,
                &Kernel::matmul_rows(params, r.len()),
                &ops.y,
            )?)),
            _ => {
                return Err(ProtoError::Invariant(
                    "a preprocessing job of an instruction without one".into(),
                ));
            }
        }));
    }
    let x = ops.x.as_deref().map(Vec::as_slice);
    Ok(Output::Values(match kernel {
        Kernel::Share { owner, bits } => Some(share::input(p, *owner, x, ops.n, *bits)?),
        Kernel::Reveal { bits } => share::reveal(p, Role::Client, x.unwrap_or(&[]), *bits)?,
        Kernel::Poly { coeffs, bits } => {
            let c: Vec<u64> = coeffs
                .iter()
                .map(|&c| ring::reduce(c as u64, *bits))
                .collect();
            let t = ops
                .tuples
                .as_ref()
                .and_then(|m| m.lock().ok().and_then(|mut g| g.take()))
                .ok_or_else(|| {
                    ProtoError::Invariant("the polynomial's preprocessing is missing".into())
                })?;
            Some(poly::online(p, x.unwrap_or(&[]), &c, t, *bits)?)
        }
        _ => {
            let ul = ins.unit_len;
            let xs = x.unwrap_or(&[]);
            let xs = xs
                .get(r.start * ul..r.end * ul)
                .ok_or_else(|| ProtoError::Invariant(missing(plan, k).to_string()))?;
            let ys = match kernel {
                Kernel::Mult(_) => ops
                    .y
                    .get(r.clone())
                    .ok_or_else(|| ProtoError::Invariant(missing(plan, k).to_string()))?,
                // The Y blocks of the samples whose rows the piece holds.
                Kernel::MatMulShared { params } => {
                    let (d1, yl) = (params.dims.d1.max(1), params.dims.w_len());
                    let blocks = match r.is_empty() {
                        true => 0..0,
                        false => r.start / d1..(r.end - 1) / d1 + 1,
                    };
                    ops.y
                        .get(blocks.start * yl..blocks.end * yl)
                        .ok_or_else(|| ProtoError::Invariant(missing(plan, k).to_string()))?
                }
                _ => &ops.y[..],
            };
            Some(piece(p, kernel, xs, ys, r, ops.masks.as_deref())?)
        }
    }))
}
