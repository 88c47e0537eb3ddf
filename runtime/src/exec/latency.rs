//! The latency of a run, measured: how many one-way network delays lie on its critical path
//! (latency units), overall and as each phase (preprocessing, every instruction) lengthens it.
//!
//! Each party logs its flights per connection ([`crate::net::Flight`]: bytes sent up to and
//! including it, bytes of the peer's it had read when it left) and where each phase ended. With
//! both parties' logs the run's causal order is known, and a flight's *send time* in latency
//! units follows Lamport's rule: it leaves no earlier than this party's previous flight on the
//! connection (sending does not wait), and no earlier than one unit after every peer flight it
//! had begun to read — on its own connection, or on any connection before the phase began
//! (the executor joins its connections between phases). The run ends one unit after its last
//! flight leaves. So a flight that follows the same party's previous one with nothing awaited
//! costs nothing, and an exchange (both parties sending at once) costs one unit.
//!
//! Both parties compute the same figures from the same two logs. A peer's log is untrusted:
//! inconsistent logs give an error, never a panic or a loop.

use crate::net::Flight;

/// The most flights a peer's log may list per connection.
pub const MAX_FLIGHTS: usize = 1 << 24;

/// Where a phase of the run ended on one connection: this party's flights so far (of the run)
/// and the bytes it had received on the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub flights: u64,
    pub received: u64,
}

/// One party's log of one connection during the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnLog {
    /// Bytes this party had sent on the connection when the run began.
    pub base_sent: u64,
    /// Bytes it had received when the run began.
    pub base_received: u64,
    /// Its flights during the run.
    pub flights: Vec<Flight>,
    /// The end of every phase, in order.
    pub marks: Vec<Mark>,
}

/// Latency units by phase (the growth of the critical path), for the logs of the server and
/// the client (one [`ConnLog`] per connection each, the same phases).
pub fn units(server: &[ConnLog], client: &[ConnLog]) -> Result<Vec<u64>, String> {
    let logs = [server, client];
    let conns = server.len();
    let phases = server.first().map_or(0, |c| c.marks.len());
    if client.len() != conns || conns == 0 {
        return Err("the parties logged different connections".into());
    }
    if phases == 0 {
        return Ok(Vec::new());
    }
    for (l, c) in logs.iter().flat_map(|l| l.iter()).enumerate() {
        let ok = c.marks.len() == phases
            && c.flights.len() <= MAX_FLIGHTS
            && c.marks
                .windows(2)
                .all(|w| w[0].flights <= w[1].flights && w[0].received <= w[1].received)
            && c.marks
                .last()
                .is_none_or(|m| m.flights == c.flights.len() as u64)
            && c.flights
                .windows(2)
                .all(|w| w[0].sent < w[1].sent && w[0].received <= w[1].received)
            && c.flights.first().is_none_or(|f| f.sent > c.base_sent)
            && c.flights
                .first()
                .is_none_or(|f| f.received >= c.base_received);
        if !ok {
            return Err(format!("an inconsistent flight log (connection log {l})"));
        }
    }
    // s[party][conn][i]: the send time of flight i; computed in causal order.
    let mut s: Vec<Vec<Vec<u64>>> = logs
        .iter()
        .map(|l| {
            l.iter()
                .map(|c| Vec::with_capacity(c.flights.len()))
                .collect()
        })
        .collect();
    // The phase of flight i of (party, conn).
    let phase_of =
        |c: &ConnLog, i: usize| -> usize { c.marks.partition_point(|m| m.flights <= i as u64) };
    // How many of the peer's flights (of the run) had begun to arrive when `received` of its
    // bytes had been read: flight j begins after byte `base_sent` (j = 0) or after flight
    // j − 1's last byte.
    let begun = |peer: &ConnLog, received: u64| -> usize {
        match peer.flights.split_last() {
            Some((_, head)) if peer.base_sent < received => {
                1 + head.partition_point(|f| f.sent < received)
            }
            _ => 0,
        }
    };
    let total: usize = logs
        .iter()
        .flat_map(|l| l.iter())
        .map(|c| c.flights.len())
        .sum();
    let mut done = 0;
    while done < total {
        let mut progressed = false;
        for p in 0..2 {
            let q = 1 - p;
            for c in 0..conns {
                'next: while s[p][c].len() < logs[p][c].flights.len() {
                    let i = s[p][c].len();
                    let f = logs[p][c].flights[i];
                    let phase = phase_of(&logs[p][c], i);
                    let mut t = s[p][c].last().copied().unwrap_or(0);
                    // Peer flights begun on this connection.
                    let need = begun(&logs[q][c], f.received);
                    if need > 0 {
                        match s[q][c].get(need - 1) {
                            Some(&v) => t = t.max(v + 1),
                            None => break 'next,
                        }
                    }
                    // What the phase's start joined from every connection.
                    if phase > 0 {
                        for c2 in 0..conns {
                            let m = logs[p][c2].marks[phase - 1];
                            let own = m.flights as usize;
                            if own > 0 {
                                match s[p][c2].get(own - 1) {
                                    Some(&v) => t = t.max(v),
                                    None => break 'next,
                                }
                            }
                            let need = begun(&logs[q][c2], m.received);
                            if need > 0 {
                                match s[q][c2].get(need - 1) {
                                    Some(&v) => t = t.max(v + 1),
                                    None => break 'next,
                                }
                            }
                        }
                    }
                    s[p][c].push(t);
                    done += 1;
                    progressed = true;
                }
            }
        }
        if !progressed {
            return Err("the flight logs describe no causal order".into());
        }
    }
    // The critical path's length after each phase: one unit past its latest flight.
    let mut end = vec![0u64; phases];
    for p in 0..2 {
        for c in 0..conns {
            for (i, &t) in s[p][c].iter().enumerate() {
                let ph = phase_of(&logs[p][c], i).min(phases.saturating_sub(1));
                end[ph] = end[ph].max(t + 1);
            }
        }
    }
    let mut out = Vec::with_capacity(phases);
    let mut sofar = 0;
    for e in end {
        let now = sofar.max(e);
        out.push(now - sofar);
        sofar = now;
    }
    Ok(out)
}

/// A log as bytes (little-endian words): base sent and received, the number of flights and of
/// marks, then the flights and the marks.
pub fn encode(logs: &[ConnLog]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = |v: u64| out.extend_from_slice(&v.to_le_bytes());
    for c in logs {
        w(c.base_sent);
        w(c.base_received);
        w(c.flights.len() as u64);
        w(c.marks.len() as u64);
        for f in &c.flights {
            w(f.sent);
            w(f.received);
        }
        for m in &c.marks {
            w(m.flights);
            w(m.received);
        }
    }
    out
}

/// The logs of `conns` connections from [`encode`]'s bytes; `None` when they do not parse.
pub fn decode(bytes: &[u8], conns: usize, phases: usize) -> Option<Vec<ConnLog>> {
    let mut words = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    let mut out = Vec::with_capacity(conns);
    for _ in 0..conns {
        let base_sent = words.next()?;
        let base_received = words.next()?;
        let nf = usize::try_from(words.next()?).ok()?;
        let nm = usize::try_from(words.next()?).ok()?;
        if nf > MAX_FLIGHTS || nm != phases {
            return None;
        }
        let mut flights = Vec::with_capacity(nf);
        for _ in 0..nf {
            flights.push(Flight {
                sent: words.next()?,
                received: words.next()?,
            });
        }
        let mut marks = Vec::with_capacity(nm);
        for _ in 0..nm {
            marks.push(Mark {
                flights: words.next()?,
                received: words.next()?,
            });
        }
        out.push(ConnLog {
            base_sent,
            base_received,
            flights,
            marks,
        });
    }
    words.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(sent: u64, received: u64) -> Flight {
        Flight { sent, received }
    }

    fn m(flights: u64, received: u64) -> Mark {
        Mark { flights, received }
    }

    fn log(flights: Vec<Flight>, marks: Vec<Mark>) -> Vec<ConnLog> {
        vec![ConnLog {
            base_sent: 0,
            base_received: 0,
            flights,
            marks,
        }]
    }

    #[test]
    fn a_ping_pong_costs_one_unit_a_flight_and_a_second_flight_of_one_sender_none() {
        // Phase 0: S sends 10 B; C answers 5 B; S sends 3 B then 4 B without reading (one
        // unit for both); phase 1: C answers.
        let s = log(vec![f(10, 0), f(13, 5), f(17, 5)], vec![m(3, 5), m(3, 5)]);
        let c = log(vec![f(5, 10), f(7, 17)], vec![m(1, 10), m(2, 17)]);
        assert_eq!(units(&s, &c), Ok(vec![3, 1]));
        // An exchange: both send at once, then both read: one unit.
        let s = log(vec![f(8, 0)], vec![m(1, 8)]);
        let c = log(vec![f(8, 0)], vec![m(1, 8)]);
        assert_eq!(units(&s, &c), Ok(vec![1]));
    }

    #[test]
    fn any_logs_give_figures_or_an_error_never_a_panic() {
        use rand_chacha::ChaCha20Rng;
        use rand_core::{RngCore, SeedableRng};
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut small = |n: u64| rng.next_u64() % n;
        let mut ok = 0;
        for _ in 0..3000 {
            let conns = 1 + small(2) as usize;
            let phases = small(4) as usize;
            let party = |small: &mut dyn FnMut(u64) -> u64| -> Vec<ConnLog> {
                (0..conns)
                    .map(|_| {
                        let n = small(5);
                        let (mut sent, mut received) = (small(3), small(3));
                        let base = (sent, received);
                        let flights: Vec<Flight> = (0..n)
                            .map(|_| {
                                sent += small(4);
                                received += small(12);
                                f(sent, received)
                            })
                            .collect();
                        let mut cut: Vec<u64> = (0..phases).map(|_| small(n + 1)).collect();
                        cut.sort_unstable();
                        if let Some(l) = cut.last_mut() {
                            *l = n;
                        }
                        let marks = cut.iter().map(|&k| m(k, received.min(k * 4))).collect();
                        ConnLog {
                            base_sent: base.0,
                            base_received: base.1,
                            flights,
                            marks,
                        }
                    })
                    .collect()
            };
            let (a, b) = (party(&mut small), party(&mut small));
            if let Ok(u) = units(&a, &b) {
                let flights: usize = a.iter().chain(&b).map(|c| c.flights.len()).sum();
                assert!(u.iter().sum::<u64>() <= flights as u64);
                ok += 1;
            }
        }
        assert!(ok > 0, "no random log was consistent");
    }

    #[test]
    fn logs_round_trip_and_bad_logs_are_errors() {
        let s = log(vec![f(10, 0), f(13, 5)], vec![m(2, 5)]);
        assert_eq!(decode(&encode(&s), 1, 1), Some(s.clone()));
        assert_eq!(decode(&encode(&s), 1, 2), None);
        assert_eq!(decode(&encode(&s)[..20], 1, 1), None);
        // Sent bytes going backwards, or a flight that needs a flight that needs it.
        let bad = log(vec![f(10, 0), f(9, 5)], vec![m(2, 5)]);
        assert!(units(&bad, &s).is_err());
        let a = log(vec![f(10, 5)], vec![m(1, 5)]);
        let b = log(vec![f(5, 10)], vec![m(1, 10)]);
        assert!(units(&a, &b).is_err());
    }
}
