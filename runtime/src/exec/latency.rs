//! The latency of a run: the turns its shared flights take, computed before the run from the
//! protocols' flight patterns ([`simulate`]) and measured by the run itself, and how each
//! instruction lengthens the critical path ([`critical_path`]).
//!
//! The executor runs every job (instruction, or an instruction's preprocessing) as soon as the
//! jobs it reads are done, all of them at once, and the two parties take turns: the client sends
//! flight 0, the server reads it, lets every task run until each waits on its peer or has ended,
//! and sends flight 1 carrying every task's messages of that step; and so on. A flight is one
//! latency unit (one one-way delay), so a run's latency is the turn at which its last job
//! ends, and a job ends on a party at the turn at which that party finished it. Turns are
//! deterministic — they depend on the plan and the shape, never on timing or data — so the
//! simulation below, stepping the same rules over each piece's [`Flow`], predicts the
//! measured turns exactly; tests hold the two equal instruction by instruction.
//!
//! Why turns rather than both parties sending whenever they are ready: one party writes while
//! the other reads, so no transport can deadlock on two large flights written at once, the
//! framing is exact and tiny, and a turn costs what a flight costs in a chain of protocols that
//! each alternate from the client (all of ours). An exchange (both parties' messages
//! independent of each other's) takes two turns instead of one.

use crate::net::Role;
use crate::proto::{Flow, Sender};

use super::mux::{HEADER_BYTES, SEGMENT_BYTES};

/// One job of a run: the jobs it waits for, and one flow per piece it runs as (none: a local
/// job, done as soon as it is ready).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Job {
    pub deps: Vec<usize>,
    pub pieces: Vec<Flow>,
}

/// A run's turns, as the simulation predicts or the run measured them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// The turn at which each job ended, on the server and on the client.
    pub finish: Vec<[u64; 2]>,
    /// Flights sent by the server and by the client (the trailing empty ones included).
    pub flights: [u64; 2],
    /// Framing bytes sent by the server and by the client ([`super::mux`]).
    pub framing: [u64; 2],
}

impl Schedule {
    /// The turn at which job `j` ended on both parties.
    pub fn end(&self, j: usize) -> u64 {
        let [s, c] = self.finish[j];
        s.max(c)
    }

    /// The run's latency units: when its last job ended.
    pub fn units(&self) -> u64 {
        (0..self.finish.len())
            .map(|j| self.end(j))
            .max()
            .unwrap_or(0)
    }
}

/// Index of a party in `[server, client]` pairs.
pub fn side(r: Role) -> usize {
    match r {
        Role::Server => 0,
        Role::Client => 1,
    }
}

/// Who sends turn `t`: the client the even turns, the server the odd ones.
pub fn turn_of(t: u64) -> Role {
    if t.is_multiple_of(2) {
        Role::Client
    } else {
        Role::Server
    }
}

/// One piece's progress on one party.
#[derive(Clone, Copy, Default)]
struct Piece {
    started: bool,
    done: bool,
    /// Position in the flow.
    pos: usize,
    /// Our half of the exchange at `pos` is sent.
    sent_half: bool,
    /// The peer's flights below this position have arrived.
    arrived: usize,
}

/// Steps the turn rules over the jobs' flows: the schedule a run of them follows. Fails when
/// the flows cannot complete (a job waits on a flight its peer never sends).
pub fn simulate(jobs: &[Job]) -> Result<Schedule, String> {
    let n = jobs.len();
    let mut first = Vec::with_capacity(n + 1);
    let mut total = 0;
    for j in jobs {
        first.push(total);
        total += j.pieces.len();
    }
    first.push(total);
    let flows: Vec<&Flow> = jobs.iter().flat_map(|j| &j.pieces).collect();
    let job_of: Vec<usize> = (0..n)
        .flat_map(|j| std::iter::repeat_n(j, jobs[j].pieces.len()))
        .collect();
    let mut dependents = vec![Vec::new(); n];
    for (j, job) in jobs.iter().enumerate() {
        for &d in &job.deps {
            if d >= n {
                return Err(format!("job {j} waits for job {d}, which does not exist"));
            }
            dependents[d].push(j);
        }
    }
    let mut st = [0, 1].map(|_| Side {
        pieces: vec![Piece::default(); total],
        waiting: jobs.iter().map(|j| j.deps.len()).collect(),
        left: jobs.iter().map(|j| j.pieces.len()).collect(),
        done: 0,
        finish: vec![0; n],
        active: Vec::new(),
        ready: (0..n).filter(|&j| jobs[j].deps.is_empty()).collect(),
    });
    let mut sched = Schedule {
        finish: vec![[0; 2]; n],
        ..Default::default()
    };
    let mut finished = [false; 2];
    let mut last_empty = false;
    let mut t = 0u64;
    loop {
        let me = side(turn_of(t));
        let peer = 1 - me;
        let who: Sender = turn_of(t).into();
        let (mine, theirs) = if me == 0 {
            let (a, b) = st.split_at_mut(1);
            (&mut a[0], &mut b[0])
        } else {
            let (a, b) = st.split_at_mut(1);
            (&mut b[0], &mut a[0])
        };
        let before = mine.done;
        let mut sent = vec![];
        loop {
            // Start what is ready (local jobs end at once and may ready others).
            while let Some(j) = mine.ready.pop() {
                if jobs[j].pieces.is_empty() {
                    mine.end_job(j, t, &dependents);
                } else {
                    for p in first[j]..first[j + 1] {
                        mine.pieces[p].started = true;
                        mine.active.push(p);
                    }
                }
            }
            let mut progressed = false;
            let active = std::mem::take(&mut mine.active);
            for p in active {
                let f = &flows[p].flights;
                let pc = &mut mine.pieces[p];
                while pc.pos < f.len() {
                    let s = f[pc.pos];
                    if s == Sender::Nobody {
                        pc.pos += 1;
                    } else if s == who {
                        sent.push(p);
                        theirs.pieces[p].arrived = pc.pos + 1;
                        pc.pos += 1;
                    } else if s == Sender::Both {
                        if !pc.sent_half {
                            sent.push(p);
                            theirs.pieces[p].arrived = pc.pos + 1;
                            pc.sent_half = true;
                        }
                        if pc.arrived > pc.pos {
                            pc.pos += 1;
                            pc.sent_half = false;
                        } else {
                            break;
                        }
                    } else if pc.arrived > pc.pos {
                        pc.pos += 1;
                    } else {
                        break;
                    }
                }
                if pc.pos == f.len() {
                    pc.done = true;
                    progressed = true;
                    let j = job_of[p];
                    mine.left[j] -= 1;
                    if mine.left[j] == 0 {
                        mine.end_job(j, t, &dependents);
                    }
                } else {
                    mine.active.push(p);
                }
            }
            mine.active.sort_unstable();
            if !progressed && mine.ready.is_empty() {
                break;
            }
        }
        sent.sort_unstable();
        sent.dedup();
        sched.flights[me] += 1;
        sched.framing[me] += HEADER_BYTES + SEGMENT_BYTES * sent.len() as u64;
        finished[me] = mine.done == n;
        if finished[0] && finished[1] {
            break;
        }
        let stalled = t > 0 && last_empty && sent.is_empty() && mine.done == before;
        if (!finished[me] && finished[peer]) || stalled {
            return Err(format!(
                "the flows cannot complete: at turn {t} {} jobs wait on flights never sent",
                n - mine.done
            ));
        }
        last_empty = sent.is_empty();
        t += 1;
    }
    for (j, f) in sched.finish.iter_mut().enumerate() {
        *f = [st[0].finish[j], st[1].finish[j]];
    }
    Ok(sched)
}

/// One party's state in [`simulate`].
struct Side {
    pieces: Vec<Piece>,
    /// Jobs each job still waits for.
    waiting: Vec<usize>,
    /// Pieces each job has still running.
    left: Vec<usize>,
    done: usize,
    finish: Vec<u64>,
    /// Started pieces not done, in order.
    active: Vec<usize>,
    ready: Vec<usize>,
}

impl Side {
    fn end_job(&mut self, j: usize, t: u64, dependents: &[Vec<usize>]) {
        self.finish[j] = t;
        self.done += 1;
        for &d in &dependents[j] {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                self.ready.push(d);
            }
        }
    }
}

/// How much each job lengthens the run's critical path: walking back from the job that ended
/// last, each job on the path is charged the turns from its latest dependency's end to its
/// own; jobs off the path are charged nothing. The charges sum to the run's latency.
pub fn critical_path(deps: &[Vec<usize>], end: &[u64]) -> Vec<u64> {
    let mut share = vec![0; end.len()];
    let Some(mut k) = (0..end.len()).max_by_key(|&j| (end[j], j)) else {
        return share;
    };
    loop {
        let pred = deps[k]
            .iter()
            .copied()
            .filter(|&d| d < end.len())
            .max_by_key(|&d| (end[d], d));
        share[k] = end[k].saturating_sub(pred.map_or(0, |d| end[d]));
        match pred {
            Some(d) => k = d,
            None => return share,
        }
    }
}
