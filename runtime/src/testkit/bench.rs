//! Benchmarks behind `sir bench`: both parties in this process, one thread per party and
//! connection, over real loopback TCP sockets.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::net::{Channel, ChannelOptions, Role, Stats};
use crate::ot::silent::{MAIN, SETUP, SilentReceiver, SilentSender};
use crate::ot::{OtEngine, OtError, OtKind};
use rand_core::SeedableRng;

/// What `bench_ot` runs.
#[derive(Clone, Debug, Default)]
pub struct OtBenchConfig {
    /// OTs per timed batch (split over the threads); the 1-of-N flavour runs `n / 256`.
    pub n: usize,
    /// Connections, each with one thread per party and its own OT engines.
    pub threads: usize,
    /// Timed repetitions after one warm-up; the median is reported.
    pub reps: usize,
    /// Flavours to run (names from [`OT_FLAVOURS`]); empty runs them all (`scot` only on
    /// silent OT).
    pub only: Vec<String>,
    /// The engine the flavours run on: on silent OT each connection first generates exactly
    /// the COTs of every flavour's reps (reported as `preprocessing`).
    pub ot: OtKind,
}

/// The flavours measured, in order. `scot` (silent random COT, [`crate::ot::silent`]) runs only
/// when named: one rep bootstraps from IKNP (a [`SETUP`] iteration) and runs as many [`MAIN`]
/// iterations as `n` COTs need (at least one), all counted.
pub const OT_FLAVOURS: [&str; 6] = ["rot", "cot64", "cot16", "chosen64", "ot1ofN_256x16", "scot"];

/// The COTs one `scot` rep hands out for a request of `n`: whole [`MAIN`] iterations, each
/// keeping its successor's base COTs.
pub fn silent_ots(n: usize) -> usize {
    let usable = MAIN.n - MAIN.base();
    n.div_ceil(usable).max(1) * usable
}

/// One `scot` rep on this party: the IKNP bootstrap, a [`SETUP`] iteration, then [`MAIN`]
/// iterations until `n` COTs (see [`silent_ots`]); returns how many it handed out.
fn silent_rep(ch: &mut Channel, ot: &mut OtEngine, role: Role, n: usize) -> Result<usize, OtError> {
    let iterations = silent_ots(n) / (MAIN.n - MAIN.base());
    let b0 = SETUP.base();
    if role == Role::Server {
        let (q, delta) = ot.raw_cot_send(ch, b0)?;
        let mut seed = [0u8; 32];
        ot.random_bytes(&mut seed);
        let rng = rand_chacha::ChaCha20Rng::from_seed(seed);
        let mut s = SilentSender::new(role, delta, 0, rng);
        let mut base = s.extend(ch, &SETUP, &q)?;
        for _ in 0..iterations {
            base = s.extend(ch, &MAIN, &base[..MAIN.base()])?;
        }
    } else {
        let mut packed = vec![0u8; b0.div_ceil(8)];
        ot.random_bytes(&mut packed);
        let bits: Vec<u8> = (0..b0).map(|j| (packed[j / 8] >> (j % 8)) & 1).collect();
        let t = ot.raw_cot_recv(ch, &packed, b0)?;
        let mut r = SilentReceiver::new(Role::Server, 0);
        let (mut x, mut z) = r.extend(ch, &SETUP, &bits, &t)?;
        for _ in 0..iterations {
            (x, z) = r.extend(ch, &MAIN, &x[..MAIN.base()], &z[..MAIN.base()])?;
        }
    }
    Ok(iterations * (MAIN.n - MAIN.base()))
}

/// Measurements of one flavour.
#[derive(Clone, Debug)]
pub struct FlavourResult {
    /// One of [`OT_FLAVOURS`].
    pub name: &'static str,
    /// OTs per timed batch (all threads).
    pub ots: usize,
    /// Median wall time of a batch.
    pub seconds: f64,
    /// `ots / seconds`.
    pub ots_per_s: f64,
    /// Bytes the OT sender sent per OT.
    pub sender_bytes_per_ot: f64,
    /// Bytes the OT receiver sent per OT.
    pub receiver_bytes_per_ot: f64,
    /// Messages of one batch on one connection: flushes of both parties.
    pub rounds: u64,
}

impl FlavourResult {
    /// Bytes per OT over both directions.
    pub fn bytes_per_ot(&self) -> f64 {
        self.sender_bytes_per_ot + self.receiver_bytes_per_ot
    }
}

/// The one-time setup (base OTs and KK13 base OTs).
#[derive(Clone, Debug)]
pub struct SetupResult {
    /// Median wall time of one setup (both parties run concurrently).
    pub ms: f64,
    /// Bytes the server sent.
    pub server_bytes: u64,
    /// Bytes the client sent.
    pub client_bytes: u64,
    /// Messages of one setup: flushes of both parties.
    pub rounds: u64,
}

/// Everything `sir bench ot` reports.
#[derive(Clone, Debug)]
pub struct OtBenchReport {
    pub ot: OtKind,
    pub setup: SetupResult,
    /// The silent COT generation before the flavours (`None` on IKNP).
    pub preprocessing: Option<SetupResult>,
    pub flavours: Vec<FlavourResult>,
}

/// Per party thread: (start, end) of every rep per flavour, plus traffic of the last rep.
struct PartyLog {
    setup: Vec<(Instant, Instant)>,
    setup_stats: Stats,
    pre: Vec<(Instant, Instant)>,
    pre_stats: Stats,
    runs: Vec<Vec<(Instant, Instant)>>,
    stats: Vec<Stats>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

/// Wall time of each rep across all party threads: latest end minus earliest start.
fn walls(logs: &[PartyLog], pick: impl Fn(&PartyLog) -> &Vec<(Instant, Instant)>) -> Vec<f64> {
    let reps = pick(&logs[0]).len();
    (0..reps)
        .map(|r| {
            let start = logs.iter().map(|l| pick(l)[r].0).min();
            let end = logs.iter().map(|l| pick(l)[r].1).max();
            match (start, end) {
                (Some(s), Some(e)) => e.duration_since(s).as_secs_f64(),
                _ => 0.0,
            }
        })
        .collect()
}

/// The silent COTs (server as sender) of one call of each flavour but `scot`.
fn flavour_cots(flavours: &[&str], n: usize) -> u64 {
    use crate::ot::cost as otc;
    use crate::proto::Cost;
    flavours
        .iter()
        .map(|&f| {
            let c = match f {
                "rot" => otc::rot(n),
                "cot64" => otc::cot(n, 64),
                "cot16" => otc::cot(n, 16),
                "chosen64" => otc::chosen(n, 64),
                "ot1ofN_256x16" => otc::one_of_n((n / 256).max(1), 256, 16),
                _ => otc::OtCost::ZERO,
            };
            Cost::ot(Role::Server, c).silent_cots()[0]
        })
        .sum()
}

#[allow(clippy::too_many_arguments)]
fn party(
    mut ch: Channel,
    role: Role,
    n: usize,
    reps: usize,
    flavours: Vec<&'static str>,
    barrier: Arc<Barrier>,
    kind: OtKind,
) -> Result<PartyLog, OtError> {
    let sync = |b: &Barrier| {
        b.wait();
        Instant::now()
    };
    let mut setup = Vec::new();
    let mut setup_stats = Stats::default();
    let mut ot = None;
    for _ in 0..reps.max(1) {
        let before = ch.stats();
        let t0 = sync(&barrier);
        let e = OtEngine::setup(&mut ch, role)?;
        setup.push((t0, Instant::now()));
        setup_stats = ch.stats() - before;
        ot = Some(e);
    }
    let Some(mut ot) = ot else {
        unreachable!("at least one setup ran")
    };
    let (mut pre, mut pre_stats) = (Vec::new(), Stats::default());
    if kind == OtKind::Silent {
        let demand = flavour_cots(&flavours, n) * (reps as u64 + 1);
        let before = ch.stats();
        let t0 = sync(&barrier);
        ot.preprocess_silent(&mut ch, [demand, 0])?;
        pre.push((t0, Instant::now()));
        pre_stats = ch.stats() - before;
    }
    let sender = role == Role::Server;
    let count_1ofn = (n / 256).max(1);
    // Buffers allocated and touched once, reused by every rep.
    let mut w0 = vec![0u128; n];
    let mut w1 = vec![0u128; n];
    let mut choices = vec![0u8; n.div_ceil(8)];
    ot.random_bytes(&mut choices);
    let corr: Vec<u64> = (0..n as u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let mut out = vec![0u64; n];
    let msgs: Vec<u64> = (0..(count_1ofn * 256) as u64).collect();
    let idx: Vec<u8> = (0..count_1ofn).map(|i| (i * 37) as u8).collect();
    let mut runs = Vec::new();
    let mut stats = Vec::new();
    for flavour in flavours {
        let mut times = Vec::new();
        let mut last = Stats::default();
        for rep in 0..=reps {
            let before = ch.stats();
            let t0 = sync(&barrier);
            match (flavour, sender) {
                ("rot", true) => ot.rot_send(&mut ch, &mut w0, &mut w1)?,
                ("rot", false) => ot.rot_recv(&mut ch, &choices, &mut w0)?,
                ("cot64" | "cot16", true) => {
                    let bits = if flavour == "cot64" { 64 } else { 16 };
                    ot.cot_send(&mut ch, bits, &corr, &mut out)?
                }
                ("cot64" | "cot16", false) => {
                    let bits = if flavour == "cot64" { 64 } else { 16 };
                    ot.cot_recv(&mut ch, bits, &choices, &mut out)?
                }
                ("chosen64", true) => ot.chosen_send(&mut ch, 64, &corr, &corr)?,
                ("chosen64", false) => ot.chosen_recv(&mut ch, 64, &choices, &mut out)?,
                ("scot", _) => {
                    silent_rep(&mut ch, &mut ot, role, n)?;
                }
                (_, true) => ot.one_of_n_send(&mut ch, 256, 16, &msgs)?,
                (_, false) => ot.one_of_n_recv(&mut ch, 256, 16, &idx, &mut out[..count_1ofn])?,
            }
            let t1 = Instant::now();
            if rep > 0 {
                times.push((t0, t1));
            }
            last = ch.stats() - before;
        }
        runs.push(times);
        stats.push(last);
    }
    Ok(PartyLog {
        setup,
        setup_stats,
        pre,
        pre_stats,
        runs,
        stats,
    })
}

/// Runs every OT flavour between two in-process parties over loopback TCP and reports
/// throughput, bytes per OT per direction and messages per batch.
pub fn bench_ot(cfg: OtBenchConfig) -> Result<OtBenchReport, OtError> {
    for f in &cfg.only {
        if !OT_FLAVOURS.contains(&f.as_str()) {
            return Err(OtError::Argument(format!(
                "unknown OT flavour `{f}` (known: {})",
                OT_FLAVOURS.join(", ")
            )));
        }
    }
    let selected: Vec<&'static str> = OT_FLAVOURS
        .into_iter()
        .filter(|f| {
            (cfg.only.is_empty() && (*f != "scot" || cfg.ot == OtKind::Silent))
                || cfg.only.iter().any(|o| o == f)
        })
        .collect();
    let threads = cfg.threads.max(1);
    let per = cfg.n.div_ceil(threads).max(1);
    let reps = cfg.reps.max(1);
    let barrier = Arc::new(Barrier::new(2 * threads));
    let opts = ChannelOptions {
        timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    };
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (a, b) = Channel::tcp_pair(opts)?;
        for (ch, role) in [(a, Role::Server), (b, Role::Client)] {
            let (bar, sel) = (barrier.clone(), selected.clone());
            let kind = cfg.ot;
            handles.push(thread::spawn(move || {
                party(ch, role, per, reps, sel, bar, kind)
            }));
        }
    }
    let mut logs = Vec::new();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(l)) => logs.push(l),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(OtError::Argument("a benchmark thread panicked".into()));
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    // logs[0] is the server (OT sender) of connection 0, logs[1] its client.
    let (srv, cli) = (&logs[0], &logs[1]);
    let setup = SetupResult {
        ms: median(walls(&logs, |l| &l.setup)) * 1e3,
        server_bytes: srv.setup_stats.bytes_sent,
        client_bytes: cli.setup_stats.bytes_sent,
        rounds: srv.setup_stats.flushes + cli.setup_stats.flushes,
    };
    let flavours = selected
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            let per_ots = match name {
                "ot1ofN_256x16" => (per / 256).max(1),
                "scot" => silent_ots(per),
                _ => per,
            };
            let ots = per_ots * threads;
            let seconds = median(walls(&logs, |l| &l.runs[i]));
            FlavourResult {
                name,
                ots,
                seconds,
                ots_per_s: if seconds > 0.0 {
                    ots as f64 / seconds
                } else {
                    0.0
                },
                sender_bytes_per_ot: srv.stats[i].bytes_sent as f64 / per_ots as f64,
                receiver_bytes_per_ot: cli.stats[i].bytes_sent as f64 / per_ots as f64,
                rounds: srv.stats[i].flushes + cli.stats[i].flushes,
            }
        })
        .collect();
    let preprocessing = (cfg.ot == OtKind::Silent).then(|| SetupResult {
        ms: median(walls(&logs, |l| &l.pre)) * 1e3,
        server_bytes: srv.pre_stats.bytes_sent,
        client_bytes: cli.pre_stats.bytes_sent,
        rounds: srv.pre_stats.flushes + cli.pre_stats.flushes,
    });
    Ok(OtBenchReport {
        ot: cfg.ot,
        setup,
        preprocessing,
        flavours,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ot_bench_reports_exact_bytes() {
        let r = bench_ot(OtBenchConfig {
            n: 4096,
            threads: 2,
            reps: 1,
            only: vec![],
            ot: OtKind::Iknp,
        })
        .unwrap();
        assert_eq!(r.setup.server_bytes, crate::ot::cost::SETUP_SERVER_BYTES);
        assert_eq!(r.setup.client_bytes, crate::ot::cost::SETUP_CLIENT_BYTES);
        assert_eq!(r.setup.rounds, crate::ot::cost::SETUP_FLIGHTS);
        let get = |name: &str| r.flavours.iter().find(|f| f.name == name).unwrap().clone();
        assert_eq!(get("rot").bytes_per_ot(), 16.0);
        assert_eq!(get("rot").rounds, 1);
        assert_eq!(get("cot64").bytes_per_ot(), 24.0);
        assert_eq!(get("cot16").bytes_per_ot(), 18.0);
        assert_eq!(get("chosen64").bytes_per_ot(), 32.0);
        assert_eq!(get("ot1ofN_256x16").bytes_per_ot(), 32.0 + 512.0);
        assert_eq!(get("ot1ofN_256x16").rounds, 2);
        let only = OtBenchConfig {
            n: 100,
            threads: 1,
            reps: 1,
            only: vec!["cot16".into()],
            ot: OtKind::Iknp,
        };
        let r = bench_ot(only.clone()).unwrap();
        assert_eq!(r.flavours.len(), 1);
        assert_eq!(r.flavours[0].bytes_per_ot(), 16.0 * 104.0 / 100.0 + 2.0);
        // On silent OT: one choice bit per OT (whole bytes per call), the pools generated
        // first and reported apart.
        let r = bench_ot(OtBenchConfig {
            ot: OtKind::Silent,
            ..only
        })
        .unwrap();
        assert_eq!(r.flavours[0].bytes_per_ot(), 13.0 / 100.0 + 2.0);
        let pre = r.preprocessing.expect("silent pools");
        let want = crate::ot::pool::generate_cost(flavour_cots(&["cot16"], 100) * 2);
        assert_eq!(
            (pre.server_bytes, pre.client_bytes, pre.rounds),
            (want.sender_bytes, want.receiver_bytes, want.flights)
        );
        let bad = OtBenchConfig {
            only: vec!["nope".into()],
            ..OtBenchConfig::default()
        };
        assert!(
            bench_ot(bad)
                .unwrap_err()
                .to_string()
                .contains("unknown OT flavour `nope`")
        );
    }
}

/// What `bench_op` runs.
#[derive(Clone, Debug)]
pub struct OpBenchConfig {
    pub op: crate::testkit::ops::Operation,
    pub params: crate::testkit::ops::Params,
    /// Elements per call (split over the threads).
    pub n: usize,
    /// Connections, each with one thread per party and its own OT engines.
    pub threads: usize,
    /// Timed calls after one warm-up; the median is reported.
    pub reps: usize,
    /// The OT engine (a silent session generates exactly the COTs of all its calls first).
    pub ot: OtKind,
}

/// Everything `sir bench op` reports.
#[derive(Clone, Debug)]
pub struct OpBenchReport {
    pub op: &'static str,
    pub params: crate::testkit::ops::Params,
    pub n: usize,
    pub threads: usize,
    pub ot: OtKind,
    /// Bytes each party sent in one call (all connections).
    pub bytes_server: u64,
    pub bytes_client: u64,
    /// Silent COTs one call consumed (all connections; zero on IKNP), and what generating
    /// them costs amortised ([`crate::ot::pool::steady_bytes_per_cot`]).
    pub silent_cots: u64,
    pub correlation_bytes: f64,
    /// The session's setup and OT preprocessing on the first connection (bytes both ways,
    /// seconds): base OTs, and on silent OT the pools for the warm-up and the timed calls.
    pub pre_bytes: u64,
    pub pre_seconds: f64,
    /// Messages of one call on one connection (flushes of both parties).
    pub rounds: u64,
    /// Median wall time of one call.
    pub seconds: f64,
    /// Every reconstructed result equalled `fixed`, in every rep.
    pub bit_exact: bool,
    /// Measured bytes per party and messages equalled `cost`, per connection, in every rep.
    pub cost_exact: bool,
    /// Math functions: the largest distance, in output ULPs, between the (cleartext
    /// fixed-point, equal to the two-party) results and the exact real function.
    pub max_ulp: Option<f64>,
}

impl OpBenchReport {
    /// Online bytes and the call's correlations (amortised), per element.
    pub fn bytes_per_elem(&self) -> f64 {
        self.online_bytes_per_elem() + self.correlation_bytes / self.n.max(1) as f64
    }
    /// What the call itself sent, per element.
    pub fn online_bytes_per_elem(&self) -> f64 {
        (self.bytes_server + self.bytes_client) as f64 / self.n.max(1) as f64
    }
    pub fn us_per_elem(&self) -> f64 {
        self.seconds * 1e6 / self.n.max(1) as f64
    }
}

/// Runs one operation between two in-process parties per connection over loopback TCP, on
/// random inputs (edge values first), and checks results against `fixed` and traffic
/// against `cost`.
pub fn bench_op(cfg: &OpBenchConfig) -> Result<OpBenchReport, crate::proto::ProtoError> {
    // The math functions' digits are tuned for the engine they run on.
    let cfg = &OpBenchConfig {
        params: crate::testkit::ops::Params {
            ot: cfg.ot,
            ..cfg.params
        },
        ..cfg.clone()
    };
    use crate::proto::{Cost, OtSession};
    use crate::testkit::pair::run_tcp_session;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    cfg.op.check(&cfg.params)?;
    let threads = cfg.threads.max(1);
    let reps = cfg.reps.max(1);
    let chunk = cfg.n.div_ceil(threads);
    let sizes: Vec<usize> = (0..threads)
        .map(|t| cfg.n.saturating_sub(t * chunk).min(chunk))
        .collect();
    let barrier = Barrier::new(2 * threads);
    for &len in &sizes {
        cfg.op.check_size(len, &cfg.params)?;
    }
    type Rep = (Vec<u64>, Stats, Instant, Instant);
    let call_cost = |len: usize| cfg.op.cost(len, &cfg.params);
    let runs = thread::scope(|s| {
        let handles: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(t, &len)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut seed = [0u8; 32];
                    seed[..8].copy_from_slice(&(t as u64).to_le_bytes());
                    let inst = cfg
                        .op
                        .instance(&mut ChaCha20Rng::from_seed(seed), len, &cfg.params);
                    let one = call_cost(len);
                    let work = (0..reps).fold(one, |a, _| a.then(one));
                    let session = OtSession::for_work(cfg.ot, work);
                    let t0 = Instant::now();
                    let pre = std::sync::Mutex::new((0.0, 0u64));
                    let run = run_tcp_session(
                        session,
                        |p| -> Result<Vec<Rep>, crate::proto::ProtoError> {
                            if p.is_server() {
                                let s = p.stats();
                                *pre.lock().unwrap_or_else(|e| e.into_inner()) =
                                    (t0.elapsed().as_secs_f64(), s.bytes_sent + s.bytes_received);
                            }
                            let inp = if p.is_server() {
                                &inst.server
                            } else {
                                &inst.client
                            };
                            let mut out = Vec::new();
                            for rep in 0..=reps {
                                p.io.end_flight()?;
                                let before = p.stats();
                                barrier.wait();
                                let t0 = Instant::now();
                                let r = cfg.op.run(p, inp, &cfg.params)?;
                                p.io.end_flight()?;
                                let t1 = Instant::now();
                                if rep > 0 {
                                    out.push((r, p.stats() - before, t0, t1));
                                }
                            }
                            Ok(out)
                        },
                    )?;
                    let pre = pre.into_inner().unwrap_or_else(|e| e.into_inner());
                    Ok::<_, crate::proto::ProtoError>((inst, run, pre))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| crate::proto::ProtoError::Argument("a party panicked".into()))?
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let out_kind = cfg.op.output(&cfg.params);
    let mut bit_exact = true;
    let mut cost_exact = true;
    let (mut bytes_server, mut bytes_client, mut rounds) = (0, 0, 0);
    let mut times = Vec::new();
    let max_ulp = runs
        .iter()
        .filter_map(|(inst, _, _)| inst.max_ulp)
        .reduce(f64::max);
    for rep in 0..reps {
        let mut start: Option<Instant> = None;
        let mut end: Option<Instant> = None;
        for (t, (inst, run, _)) in runs.iter().enumerate() {
            let (s, c) = (&run.server[rep], &run.client[rep]);
            for (i, e) in inst.expected.iter().enumerate() {
                bit_exact &= out_kind.reconstruct(s.0[i], c.0[i]) == *e;
            }
            bit_exact &= s.0.len() == inst.expected.len() && c.0.len() == inst.expected.len();
            let measured = Cost::measured(&s.1, &c.1);
            cost_exact &= measured == call_cost(sizes[t]).on(cfg.ot);
            if rep == 0 {
                bytes_server += measured.server_bytes;
                bytes_client += measured.client_bytes;
                rounds = rounds.max(measured.rounds);
            }
            start = Some(start.map_or(s.2.min(c.2), |x| x.min(s.2).min(c.2)));
            end = Some(end.map_or(s.3.max(c.3), |x| x.max(s.3).max(c.3)));
        }
        if let (Some(a), Some(b)) = (start, end) {
            times.push(b.duration_since(a).as_secs_f64());
        }
    }
    let silent_cots: u64 = match cfg.ot {
        OtKind::Iknp => 0,
        OtKind::Silent => sizes
            .iter()
            .map(|&len| call_cost(len).silent_cots().iter().sum::<u64>())
            .sum(),
    };
    let (pre_seconds, pre_bytes) = runs.first().map_or((0.0, 0), |r| r.2);
    Ok(OpBenchReport {
        op: cfg.op.name(),
        params: cfg.params,
        n: cfg.n,
        threads,
        ot: cfg.ot,
        bytes_server,
        bytes_client,
        silent_cots,
        correlation_bytes: silent_cots as f64 * crate::ot::pool::steady_bytes_per_cot(),
        pre_bytes,
        pre_seconds,
        rounds,
        seconds: median(times),
        bit_exact,
        cost_exact,
        max_ulp,
    })
}
