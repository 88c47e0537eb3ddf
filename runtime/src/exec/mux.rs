//! Shared flights: many protocol tasks of one run, each written as a blocking function over its
//! own [`Wire`], travel in one flight per party per turn.
//!
//! Every task gets a [`TaskWire`]: `send` appends to the task's outbox, `recv` takes from its
//! inbox and, when the bytes are not there yet, parks the task thread. The executor's driver
//! waits until every task is parked or finished ([`Mux::quiesce`]), then writes all outboxes as
//! one flight ([`Mux::take_flight`], [`encode_header`]): a header naming each task's segment
//! and its length, then the segments in task order. The peer's driver reads the header and
//! routes every segment to its task's inbox ([`Mux::deliver`]). Protocol code is unchanged; its
//! `end_flight` and `end_exchange` only count (as on a [`crate::net::Channel`]) because the
//! driver decides when bytes leave.
//!
//! Framing is public and exact: a flight costs [`HEADER_BYTES`] plus [`SEGMENT_BYTES`] per
//! task that sent in it, what [`super::latency::simulate`] predicts.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::net::{NetError, Stats, Wire};

/// Bytes of a flight's header: its segment count and whether the sender has finished.
pub const HEADER_BYTES: u64 = 4;
/// Bytes per segment in the header: its task and length.
pub const SEGMENT_BYTES: u64 = 8;

/// One task's queues.
#[derive(Default)]
struct Slot {
    inbox: Vec<u8>,
    /// Bytes of `inbox` already read.
    read: usize,
    outbox: Vec<u8>,
    /// Parked in `recv`, waiting for this many unread bytes.
    wants: Option<usize>,
}

impl Slot {
    fn unread(&self) -> usize {
        self.inbox.len() - self.read
    }
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    /// Task threads neither parked nor finished.
    running: usize,
    /// Set when the run stops: parked tasks wake with an error.
    failed: bool,
}

/// The shared state of one party's run: every task's queues and who is running.
#[derive(Default)]
pub struct Mux {
    state: Mutex<State>,
    /// The driver waits here for tasks to park or end.
    changed: Condvar,
    /// Parked tasks wait here for their bytes (apart, so a task parking wakes only the driver).
    arrived: Condvar,
}

/// A segment of a flight: task, bytes.
pub type Segment = (u32, Vec<u8>);

impl Mux {
    pub fn new(tasks: usize) -> Mux {
        Mux {
            state: Mutex::new(State {
                slots: (0..tasks).map(|_| Slot::default()).collect(),
                running: 0,
                failed: false,
            }),
            changed: Condvar::new(),
            arrived: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking task cannot leave the queues half-updated: every update is one statement
        // on plain vectors, and the executor reports the panic itself.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A task thread is about to start.
    pub fn started(&self) {
        self.lock().running += 1;
    }

    /// A task thread has returned.
    pub fn finished(&self) {
        let mut s = self.lock();
        s.running -= 1;
        self.changed.notify_all();
    }

    /// Waits until every task thread is parked in `recv` or has returned.
    pub fn quiesce(&self) {
        let mut s = self.lock();
        while s.running > 0 && !s.failed {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Stops the run: every parked task and every later `recv` fails.
    pub fn fail(&self) {
        self.lock().failed = true;
        self.changed.notify_all();
        self.arrived.notify_all();
    }

    /// Takes every non-empty outbox, in task order.
    pub fn take_flight(&self) -> Vec<Segment> {
        let mut s = self.lock();
        s.slots
            .iter_mut()
            .enumerate()
            .filter(|(_, t)| !t.outbox.is_empty())
            .map(|(i, t)| (i as u32, std::mem::take(&mut t.outbox)))
            .collect()
    }

    /// Appends the peer's segment to task `task`'s inbox, waking the task if it now has what
    /// it waits for (it counts as running again from here, so a quiescence that follows waits
    /// for it).
    pub fn deliver(&self, task: usize, bytes: &[u8]) {
        let mut s = self.lock();
        let Some(slot) = s.slots.get_mut(task) else {
            return;
        };
        if slot.read == slot.inbox.len() {
            slot.inbox.clear();
            slot.read = 0;
        }
        slot.inbox.extend_from_slice(bytes);
        if slot.wants.is_some_and(|w| slot.unread() >= w) {
            slot.wants = None;
            s.running += 1;
            self.arrived.notify_all();
        }
    }

    /// Whether task `task` has bytes it has not read (a protocol that ended with bytes of its
    /// peer left over is out of step).
    pub fn unread(&self, task: usize) -> usize {
        self.lock().slots.get(task).map_or(0, Slot::unread)
    }
}

/// Encodes a flight's header: segment count and the `done` flag, then (task, length) per
/// segment, little-endian.
pub fn encode_header(segments: &[Segment], done: bool) -> Result<Vec<u8>, NetError> {
    let too_big = || NetError::Io(std::io::Error::other("a flight of more than 2^31 segments"));
    let n = u32::try_from(segments.len())
        .ok()
        .filter(|&n| n < 1 << 31)
        .ok_or_else(too_big)?;
    let mut h = Vec::with_capacity(HEADER_BYTES as usize + segments.len() * 8);
    h.extend_from_slice(&(n << 1 | done as u32).to_le_bytes());
    for (task, bytes) in segments {
        let len = u32::try_from(bytes.len()).map_err(|_| {
            NetError::Io(std::io::Error::other(
                "a task sent 4 GiB or more in one flight",
            ))
        })?;
        h.extend_from_slice(&task.to_le_bytes());
        h.extend_from_slice(&len.to_le_bytes());
    }
    Ok(h)
}

/// A task's wire: its outbox and inbox in the [`Mux`], and its own counters (what the
/// executor reports per instruction).
pub struct TaskWire {
    mux: Arc<Mux>,
    task: usize,
    stats: Stats,
    /// Bytes were sent since the last end of a flight.
    unflushed: bool,
    /// Ends of flights since the last `recv`: the next `recv` that waits is a round.
    flushed_since_recv: bool,
    joint: u64,
}

impl TaskWire {
    pub fn new(mux: Arc<Mux>, task: usize) -> TaskWire {
        TaskWire {
            mux,
            task,
            stats: Stats::default(),
            unflushed: false,
            flushed_since_recv: false,
            joint: 0,
        }
    }

    fn end(&mut self) -> bool {
        let ended = self.unflushed;
        if ended {
            self.unflushed = false;
            self.flushed_since_recv = true;
        }
        ended
    }
}

impl Wire for TaskWire {
    fn send(&mut self, data: &[u8]) -> Result<(), NetError> {
        if data.is_empty() {
            return Ok(());
        }
        self.stats.bytes_sent += data.len() as u64;
        self.stats.messages_sent += 1;
        self.unflushed = true;
        let mut s = self.mux.lock();
        s.slots[self.task].outbox.extend_from_slice(data);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<(), NetError> {
        if buf.is_empty() {
            return Ok(());
        }
        if self.end() {
            self.stats.flushes += 1;
        }
        if self.flushed_since_recv {
            self.stats.rounds += 1;
            self.flushed_since_recv = false;
        }
        let mux = &*self.mux;
        let mut s = mux.lock();
        loop {
            if s.failed {
                // Counted as running again, so the thread's end balances.
                if s.slots[self.task].wants.take().is_some() {
                    s.running += 1;
                }
                return Err(NetError::Io(std::io::Error::other(
                    "the run stopped (another task or the connection failed)",
                )));
            }
            let slot = &mut s.slots[self.task];
            if slot.wants.is_none() && slot.unread() >= buf.len() {
                buf.copy_from_slice(&slot.inbox[slot.read..slot.read + buf.len()]);
                slot.read += buf.len();
                break;
            }
            if slot.wants.is_none() {
                slot.wants = Some(buf.len());
                s.running -= 1;
                mux.changed.notify_all();
            }
            s = mux.arrived.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        self.stats.messages_received += 1;
        self.stats.bytes_received += buf.len() as u64;
        Ok(())
    }

    fn end_flight(&mut self) -> Result<(), NetError> {
        if self.end() {
            self.stats.flushes += 1;
        }
        Ok(())
    }

    fn end_exchange(&mut self) -> Result<(), NetError> {
        if self.end() {
            self.joint += 1;
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn exchanges(&self) -> u64 {
        self.joint
    }
}
