//! The one way protocol code talks to the peer. Every protocol family, the math engine and the
//! OT engine send, receive and end their flights through [`Wire`] and nothing else, so how
//! messages travel (straight onto a blocking [`super::Channel`], or, in a run, into a task's
//! share of the flights the executor sends for all running protocols) changes in one place,
//! not in every protocol.
//!
//! A *flight* is what one party sends before it waits on its peer. A protocol ends each of its
//! flights explicitly with [`Wire::end_flight`], or, when both parties send in the same
//! flight (an exchange), the client with [`Wire::end_exchange`]. A `recv` ends the pending
//! flight first, so a forgotten end can never deadlock the two parties; bytes sent and not
//! ended ride along with the next flight of this party (the "merged" message of a protocol's
//! cost).

use super::{Channel, NetError, Stats};

/// A protocol's connection to the peer: messages out, messages in, explicit ends of flights,
/// and the counters the exact cost model is checked against.
pub trait Wire: Send {
    /// Queues bytes for the peer, in this party's current flight.
    fn send(&mut self, data: &[u8]) -> Result<(), NetError>;
    /// Reads exactly `buf.len()` bytes from the peer (ending this party's flight first).
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), NetError>;
    /// Ends this party's flight: what was sent leaves now.
    fn end_flight(&mut self) -> Result<(), NetError>;
    /// Ends the client's half of an exchange, a flight both parties send at once (the server
    /// ends its half with [`Wire::end_flight`]); counted once for the pair.
    fn end_exchange(&mut self) -> Result<(), NetError>;
    /// The counters so far.
    fn stats(&self) -> Stats;
    /// Exchanges this side ended ([`Wire::end_exchange`]; not in [`Stats::flushes`]).
    fn exchanges(&self) -> u64;
}

impl Wire for Channel {
    fn send(&mut self, data: &[u8]) -> Result<(), NetError> {
        Channel::send(self, data)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), NetError> {
        Channel::recv(self, buf)
    }

    fn end_flight(&mut self) -> Result<(), NetError> {
        self.flush()
    }

    fn end_exchange(&mut self) -> Result<(), NetError> {
        self.flush_joint()
    }

    fn stats(&self) -> Stats {
        Channel::stats(self)
    }

    fn exchanges(&self) -> u64 {
        self.joint_flushes()
    }
}
