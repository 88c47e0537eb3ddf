//! Running both parties of a protocol in one process, for tests and benchmarks: the server on
//! this thread, the client on another, over an in-memory or loopback TCP channel pair, with
//! the communication of the protocol itself (setup excluded) measured on the channels.

use crate::net::{Channel, ChannelOptions, Role, Stats};
use crate::proto::{Cost, OtSession, Party, ProtoError};

/// What one two-party run returns: each party's result and the communication of the body.
#[derive(Debug)]
pub struct PairRun<R> {
    pub server: R,
    pub client: R,
    /// What the body sent, from the server's and the client's channel (setup excluded).
    pub server_stats: Stats,
    pub client_stats: Stats,
}

impl<R> PairRun<R> {
    /// The measured cost: bytes each party sent, and flights (flushes of both parties).
    pub fn measured(&self) -> Cost {
        Cost::measured(&self.server_stats, &self.client_stats)
    }
}

/// Sets up an IKNP session on `channels` and runs `body` as both parties.
pub fn run_on<R: Send>(
    channels: (Channel, Channel),
    body: impl Fn(&mut Party) -> Result<R, ProtoError> + Sync,
) -> Result<PairRun<R>, ProtoError> {
    run_session(channels, OtSession::IKNP, body)
}

/// Sets up `session` on `channels` (setup and OT preprocessing not measured) and runs `body`
/// as both parties.
pub fn run_session<R: Send>(
    (server_ch, client_ch): (Channel, Channel),
    session: OtSession,
    body: impl Fn(&mut Party) -> Result<R, ProtoError> + Sync,
) -> Result<PairRun<R>, ProtoError> {
    let run = |ch: Channel, role: Role| -> Result<(R, Stats), ProtoError> {
        let mut p = Party::with(ch, role, session)?;
        let before = p.stats();
        let r = body(&mut p)?;
        p.io.end_flight()?;
        Ok((r, p.stats() - before))
    };
    std::thread::scope(|s| {
        let client = s.spawn(|| run(client_ch, Role::Client));
        let server = run(server_ch, Role::Server);
        let client = client
            .join()
            .map_err(|_| ProtoError::Invariant("the client thread panicked".into()))?;
        let ((server, server_stats), (client, client_stats)) = (server?, client?);
        Ok(PairRun {
            server,
            client,
            server_stats,
            client_stats,
        })
    })
}

/// [`run_on`] over an in-memory channel pair.
pub fn run_mem<R: Send>(
    body: impl Fn(&mut Party) -> Result<R, ProtoError> + Sync,
) -> Result<PairRun<R>, ProtoError> {
    run_on(Channel::mem_pair(ChannelOptions::default()), body)
}

/// [`run_session`] over an in-memory channel pair.
pub fn run_mem_session<R: Send>(
    session: OtSession,
    body: impl Fn(&mut Party) -> Result<R, ProtoError> + Sync,
) -> Result<PairRun<R>, ProtoError> {
    run_session(Channel::mem_pair(ChannelOptions::default()), session, body)
}

/// [`run_on`] over a loopback TCP pair.
pub fn run_tcp<R: Send>(
    body: impl Fn(&mut Party) -> Result<R, ProtoError> + Sync,
) -> Result<PairRun<R>, ProtoError> {
    run_on(Channel::tcp_pair(ChannelOptions::default())?, body)
}

/// [`run_session`] over a loopback TCP pair.
pub fn run_tcp_session<R: Send>(
    session: OtSession,
    body: impl Fn(&mut Party) -> Result<R, ProtoError> + Sync,
) -> Result<PairRun<R>, ProtoError> {
    run_session(Channel::tcp_pair(ChannelOptions::default())?, session, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ot::{OtKind, cost};

    /// The harness measures what a protocol sends: a chosen-message OT costs what `ot::cost`
    /// says, seen through `Cost::ot`.
    #[test]
    fn measured_cost_of_an_ot_matches_its_cost_model() {
        let n: usize = 1000;
        let run = run_mem(|p| {
            let m0: Vec<u64> = (0..n as u64).collect();
            let m1: Vec<u64> = (0..n as u64).map(|x| x + 7).collect();
            if p.is_server() {
                p.ot.chosen_send(&mut *p.io, 13, &m0, &m1)?;
                Ok(Vec::new())
            } else {
                let choices = vec![0b1010_1010u8; n.div_ceil(8)];
                let mut out = vec![0u64; n];
                p.ot.chosen_recv(&mut *p.io, 13, &choices, &mut out)?;
                Ok(out)
            }
        })
        .expect("runs");
        assert_eq!(run.client[1], 8);
        assert_eq!(run.client[2], 2);
        assert_eq!(
            run.measured(),
            Cost::ot(Role::Server, cost::chosen(n, 13)).on(OtKind::Iknp)
        );
    }
}
