//! `sir run --role server`: a server that holds up. Its door ([`session::Door`]) greets every
//! connection on its own thread within a deadline and drops strangers (logged, never costing a
//! session); this module admits clients' sessions, up to `--concurrency` at once within the
//! shared `--max-memory` budget, runs each on its own thread with its own OT setup and
//! randomness, logs one structured line per session event (`tracing`: text or JSON, never a
//! value or a share), and stops after `--serve N` completed sessions (`0`: until interrupted)
//! or on SIGINT/SIGTERM, finishing the sessions that run.

use crate::report::{PartyRun, estimates, numbered, report_json, summary, write_report};
use sir_runtime::exec::session::{self, Door, Dropped, Greeted, Offer, Waits};
use sir_runtime::exec::{self, Own, Shape};
use sir_runtime::net::Role;
use sir_runtime::plan::{Plan, PlanInfo};
use std::collections::VecDeque;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Clients greeted while every session slot is busy wait here (on our offer); more are told
/// the server is busy.
const MAX_QUEUED: usize = 64;

/// What the server serves, and how.
pub struct Serving<'a> {
    pub plan: &'a Plan,
    /// The plan's hash (computed once: it serialises the whole plan).
    pub hash: [u8; 32],
    pub info: &'a PlanInfo,
    pub weights: &'a [Vec<u64>],
    pub threads: usize,
    /// Completed sessions to serve before exiting; 0: until interrupted.
    pub serve: usize,
    /// Sessions at once.
    pub concurrency: usize,
    /// Bytes all running sessions may use together.
    pub budget: u64,
    pub report: Option<PathBuf>,
    /// How long an idle server waits for its next client before giving up (`--serve N`).
    pub wait: Duration,
    pub waits: Waits,
}

/// How the sessions ended.
#[derive(Debug, Default)]
pub struct Served {
    pub completed: usize,
    pub failed: usize,
}

impl Served {
    fn record(&mut self, completed: bool) {
        if completed {
            self.completed += 1;
        } else {
            self.failed += 1;
        }
    }
}

/// The memory budget the running sessions share: each reserves what the batch it offers
/// needs before it runs, and a new client is offered at most an equal share of what is free
/// among the slots not yet holding a reservation.
struct Ledger {
    /// (free bytes, sessions holding a reservation)
    state: Mutex<(u64, usize)>,
    slots: usize,
}

impl Ledger {
    /// Reserves a share for a new session: the batch limit to offer and the bytes reserved.
    fn reserve(&self, plan: &Plan) -> (u64, u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (free, holders) = *st;
        let share = free / self.slots.saturating_sub(holders).max(1) as u64;
        let limit = exec::max_batch_within(plan, share) as u64;
        let need = if limit == 0 {
            0
        } else {
            exec::bytes_needed(plan, limit as usize).min(free)
        };
        *st = (free - need, holders + 1);
        (limit, need)
    }

    fn release(&self, bytes: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *st = (st.0 + bytes, st.1.saturating_sub(1));
    }
}

/// glibc gives every thread that allocates its own arena (up to 8 per core) and keeps their
/// memory: a server that runs a thread per connection and per session would see its RSS
/// creep with every thread that ever ran. One arena per core bounds it (soak: RSS flat within
/// a few percent instead of +30 % in the first minutes).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_malloc_arenas() {
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_ARENA_MAX: i32 = -8;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // SAFETY: mallopt only sets an allocator tunable; it is safe to call at any time.
    unsafe {
        mallopt(M_ARENA_MAX, cores.clamp(1, 64) as i32);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_arenas() {}

/// Serves clients on `listener` until `--serve N` sessions completed, the idle wait ran out,
/// or a signal came.
pub fn serve(s: &Serving<'_>, listener: TcpListener) -> Result<Served, String> {
    bound_malloc_arenas();
    let stop = Arc::new(AtomicBool::new(false));
    // The first signal finishes the running sessions; a second one ends the process.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .map_err(|e| e.to_string())?;
    }
    let hash = s.hash;
    let plan_hex = blake3::Hash::from(hash).to_hex().to_string();
    let log = Arc::new(|d: Dropped| {
        tracing::info!(event = "connection_dropped", addr = %d.addr, why = %d.why);
    });
    let mut door = Door::open(listener, hash, s.waits.clone(), log).map_err(|e| e.to_string())?;
    let ledger = Ledger {
        state: Mutex::new((s.budget, 0)),
        slots: s.concurrency,
    };
    let (done_tx, done_rx) = mpsc::channel::<bool>();
    let mut served = Served::default();
    let mut queue: VecDeque<Greeted> = VecDeque::new();
    let mut running = 0usize;
    let mut next_id = 1u64;
    let mut idle_since = Instant::now();
    let mut outcome = Ok(());
    let (door_ref, ledger_ref) = (&door, &ledger);
    std::thread::scope(|scope| {
        loop {
            while let Ok(ok) = done_rx.try_recv() {
                running -= 1;
                served.record(ok);
                idle_since = Instant::now();
            }
            let enough = s.serve > 0 && served.completed >= s.serve;
            if enough || stop.load(Ordering::SeqCst) {
                break;
            }
            let room = s.serve == 0 || served.completed + running < s.serve;
            if running < s.concurrency && room {
                let next = queue
                    .pop_front()
                    .or_else(|| door_ref.next_client(Duration::from_millis(50)));
                if let Some(g) = next {
                    let id = next_id;
                    next_id += 1;
                    running += 1;
                    let (tx, hex) = (done_tx.clone(), plan_hex.as_str());
                    scope.spawn(move || {
                        let ok = one_session(s, door_ref, ledger_ref, g, id, hex);
                        let _ = tx.send(ok);
                    });
                    continue;
                }
                if running == 0 && s.serve > 0 && idle_since.elapsed() >= s.wait {
                    outcome = Err(format!("no client connected within {} s", s.wait.as_secs()));
                    break;
                }
            } else if let Some(g) = door_ref.next_client(Duration::from_millis(50)) {
                if queue.len() < MAX_QUEUED {
                    queue.push_back(g);
                } else {
                    tell(door_ref, g, s, "the server is busy; try again later");
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            tracing::info!(event = "server_stopping", running, queued = queue.len());
        }
        for g in queue.drain(..) {
            tell(door_ref, g, s, "the server is closing; try again later");
        }
        while running > 0 {
            let Ok(ok) = done_rx.recv() else { break };
            served.record(ok);
            running -= 1;
        }
    });
    door.close();
    tracing::info!(
        event = "server_stopped",
        completed = served.completed,
        failed = served.failed
    );
    outcome.map(|()| served)
}

/// Tells a waiting client why it is not served (it stops with that reason).
fn tell(door: &Door, g: Greeted, s: &Serving<'_>, why: &str) {
    let offer = Offer::new(s.threads as u32, 0, Some(why.into()));
    let addr = g.addr.clone();
    let _ = session::open(door, g, &offer);
    tracing::info!(event = "client_turned_away", addr = %addr, why);
}

/// One client's session, start to end; whether it completed.
fn one_session(
    s: &Serving<'_>,
    door: &Door,
    ledger: &Ledger,
    g: Greeted,
    id: u64,
    plan_hex: &str,
) -> bool {
    let client = g.client.clone().unwrap_or_else(|| g.addr.clone());
    tracing::info!(event = "session_start", session = id, client = %client, addr = %g.addr);
    let (limit, reserved) = ledger.reserve(s.plan);
    let offer = Offer::new(
        s.threads as u32,
        limit,
        (limit == 0).then(|| {
            "the server's memory budget is taken by running sessions; try again later".into()
        }),
    );
    let started = Instant::now();
    let r = run_session(s, door, g, &offer, id);
    ledger.release(reserved);
    let secs = started.elapsed().as_secs_f64();
    match r {
        Ok(Some(ran)) => {
            tracing::info!(
                event = "session_end",
                session = id,
                client = %client,
                plan = plan_hex,
                batch = ran.batch,
                bytes_sent = ran.sent,
                bytes_received = ran.received,
                latency_units = ran.units,
                seconds = secs,
                outcome = "completed"
            );
            true
        }
        Ok(None) => {
            tracing::info!(
                event = "session_end",
                session = id,
                client = %client,
                plan = plan_hex,
                seconds = secs,
                outcome = "turned away (memory budget)"
            );
            false
        }
        Err(e) => {
            tracing::warn!(
                event = "session_end",
                session = id,
                client = %client,
                plan = plan_hex,
                seconds = secs,
                outcome = "failed",
                error = %e
            );
            false
        }
    }
}

/// What a completed session measured.
struct Ran {
    batch: usize,
    sent: u64,
    received: u64,
    units: u64,
}

fn run_session(
    s: &Serving<'_>,
    door: &Door,
    g: Greeted,
    offer: &Offer,
    id: u64,
) -> Result<Option<Ran>, String> {
    let opened = session::open(door, g, offer).map_err(|e| e.to_string())?;
    if offer.gave_up.is_some() {
        return Ok(None);
    }
    let mut parties = opened.parties;
    let shape = Shape {
        batch: opened.batch,
        threads: s.threads,
    };
    let ex = exec::execute(
        &mut parties,
        s.plan,
        s.info,
        opened.batch,
        Own::Server(s.weights),
        &mut |_, _, _| {},
    )
    .map_err(|e| e.to_string())?;
    let est = estimates(s.plan, s.info, shape)?;
    tracing::info!(event = "session_summary", session = id, summary = %summary(Role::Server, shape, &ex, &est));
    if let Some(r) = &s.report {
        let path = if s.serve == 1 {
            r.clone()
        } else {
            numbered(r, id as usize)
        };
        let mut v = report_json(&PartyRun {
            plan: s.plan,
            plan_hash: &s.hash,
            role: Role::Server,
            shape,
            ex: &ex,
            est: &est,
        });
        // Which session and which client (certificate fingerprint, or address in plaintext).
        v["session"] = serde_json::json!(id);
        v["client"] = serde_json::json!(opened.client);
        write_report(&path, &v)?;
    }
    Ok(Some(Ran {
        batch: opened.batch,
        sent: ex.total.bytes_sent,
        received: ex.total.bytes_received,
        units: ex.latency.as_ref().map_or(0, |l| l.total()),
    }))
}
