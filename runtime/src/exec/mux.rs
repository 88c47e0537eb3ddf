//! Shared flights: many protocol tasks of one run, each written as a blocking function over its
//! own [`Wire`], travel in one flight per party per turn.
//!
//! Every task gets a [`TaskWire`]: `send` appends to the task's outbox, `recv` takes from its
//! inbox and, when the bytes are not there yet, parks the task. When every task is parked or
//! ended and the executor has nothing to collect (quiescence), the party's turn comes:
//! [`Mux::step`] writes all outboxes as one flight — a header naming each task's segment and
//! its length, then the segments in task order — and reads the peer's, routing every segment
//! to its task's inbox. The thread that takes the step is the task that parked last (or the
//! executor's driver when it was the last to act), so a chain of protocols runs on one thread
//! with no hand-off per turn, as a sequential run would. Protocol code is unchanged; its
//! `end_flight` and `end_exchange` only count (as on a [`crate::net::Channel`]) because the
//! turns decide when bytes leave.
//!
//! Framing is public and exact: a flight costs [`HEADER_BYTES`] plus [`SEGMENT_BYTES`] per
//! task that sent in it, what [`super::latency::simulate`] predicts.

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::net::{NetError, Role, Stats, Wire};

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

/// Why the turns stopped.
#[derive(Debug)]
pub enum Stop {
    /// A flight could not be written or read, at this turn.
    Net(u64, NetError),
    /// This party's jobs wait on flights the peer will not send, at this turn.
    Stalled(u64),
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    /// Threads neither parked nor ended: tasks, and the driver while it is not waiting (so
    /// no task takes a step while the driver collects or starts jobs).
    running: usize,
    /// Tasks that ended and the driver has not collected.
    pending: usize,
    /// Jobs this party has not finished.
    jobs_left: usize,
    /// A thread is taking a step.
    stepping: bool,
    /// The current turn (a job that ends now ends at this turn).
    turn: u64,
    /// Both parties have sent their last flight.
    over: bool,
    /// Set when the run stops: parked tasks wake with an error.
    failed: bool,
    stop: Option<Stop>,
}

/// The turn-taking end of the connections: held by whichever thread takes a step.
pub struct Io {
    pub wires: Vec<Box<dyn Wire>>,
    /// The connection each task's segments travel on.
    lane: Vec<usize>,
    my_turn: bool,
    me_done: bool,
    peer_done: bool,
    peer_empty: bool,
    /// `jobs_left` when the peer's last flight arrived (to tell a stall).
    left_at_recv: usize,
    pub framing: Stats,
    buf: Vec<u8>,
}

/// The shared state of one party's run: every task's queues, who is running, the turns.
pub struct Mux {
    state: Mutex<State>,
    io: Mutex<Io>,
    /// The driver waits here for work (tasks ended, or the run over or failed).
    changed: Condvar,
    /// Each parked task waits on its own condition for its bytes.
    arrived: Vec<Condvar>,
}

/// A segment of a flight: task, bytes.
pub type Segment = (u32, Vec<u8>);

/// What the driver is woken for.
pub enum Wake {
    /// Tasks ended: collect this many reports.
    Collect(usize),
    /// Nothing runs and nothing is to collect: the driver takes the step itself.
    Step,
    Over,
    Failed(Option<Stop>),
}

impl Mux {
    /// The mux of a run of `jobs` jobs whose tasks' segments travel on `lane[task]` of `wires`.
    pub fn new(role: Role, wires: Vec<Box<dyn Wire>>, lane: Vec<usize>, jobs: usize) -> Mux {
        let tasks = lane.len();
        Mux {
            state: Mutex::new(State {
                slots: (0..lane.len()).map(|_| Slot::default()).collect(),
                // The driver, until it waits.
                running: 1,
                jobs_left: jobs,
                ..State::default()
            }),
            io: Mutex::new(Io {
                wires,
                lane,
                my_turn: role == Role::Client,
                me_done: false,
                peer_done: false,
                peer_empty: false,
                left_at_recv: jobs,
                framing: Stats::default(),
                buf: Vec::new(),
            }),
            changed: Condvar::new(),
            arrived: (0..tasks).map(|_| Condvar::new()).collect(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking task cannot leave the queues half-updated: every update is one statement
        // on plain vectors, and the executor reports the panic itself.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_io(&self) -> MutexGuard<'_, Io> {
        self.io.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connections back, and the framing they carried, once the run is over.
    pub fn take_io(&self) -> (Vec<Box<dyn Wire>>, Stats) {
        let mut io = self.lock_io();
        (std::mem::take(&mut io.wires), io.framing)
    }

    /// The current turn.
    pub fn turn(&self) -> u64 {
        self.lock().turn
    }

    /// Bytes both ways on the connections so far (`None` while a step holds them).
    pub fn bytes(&self) -> Option<u64> {
        let io = self.io.try_lock().ok()?;
        Some(
            io.wires
                .iter()
                .map(|w| w.stats().bytes_sent + w.stats().bytes_received)
                .sum(),
        )
    }

    /// A task thread is about to start.
    pub fn started(&self) {
        self.lock().running += 1;
    }

    /// A task thread has returned (after sending its report).
    pub fn finished(&self) {
        let mut s = self.lock();
        s.running -= 1;
        s.pending += 1;
        self.changed.notify_all();
    }

    /// The driver finished a job.
    pub fn job_ended(&self) {
        self.lock().jobs_left -= 1;
    }

    /// Stops the run: every parked task and every later `recv` fails.
    pub fn fail(&self) {
        self.lock().failed = true;
        self.changed.notify_all();
        self.arrived.iter().for_each(Condvar::notify_all);
    }

    /// The driver waits for work: reports to collect, a step nobody else takes, or the end.
    /// While it waits it does not count as running; when it returns it does again.
    pub fn wait(&self) -> Wake {
        let mut s = self.lock();
        s.running -= 1;
        loop {
            if s.failed {
                s.running += 1;
                return Wake::Failed(s.stop.take());
            }
            if s.over {
                s.running += 1;
                return Wake::Over;
            }
            if s.pending > 0 {
                s.running += 1;
                return Wake::Collect(std::mem::take(&mut s.pending));
            }
            if s.running == 0 && !s.stepping {
                s.running += 1;
                s.stepping = true;
                return Wake::Step;
            }
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The driver's step (after [`Wake::Step`]).
    pub fn driver_step(&self) {
        let r = self.step();
        self.after_step(r);
    }

    /// Ends a step: records how it ended, wakes whoever must act next.
    fn after_step(&self, r: Result<(), Stop>) {
        let mut s = self.lock();
        s.stepping = false;
        if let Err(e) = r {
            s.stop = Some(e);
            s.failed = true;
            self.arrived.iter().for_each(Condvar::notify_all);
        }
        self.changed.notify_all();
    }

    /// The party's turn and the peer's: sends every outbox as one flight, then reads the
    /// peer's flight and hands its segments to their tasks. Taken only at quiescence (nothing
    /// running, nothing to collect), by one thread at a time.
    fn step(&self) -> Result<(), Stop> {
        let mut io = self.lock_io();
        let io = &mut *io;
        if io.my_turn {
            let (segs, turn, left) = {
                let mut s = self.lock();
                let segs: Vec<Segment> = s
                    .slots
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, t)| !t.outbox.is_empty())
                    .map(|(i, t)| (i as u32, std::mem::take(&mut t.outbox)))
                    .collect();
                (segs, s.turn, s.jobs_left)
            };
            let done = left == 0;
            let stalled = !done && segs.is_empty() && io.peer_empty && left == io.left_at_recv;
            if (!done && io.peer_done) || stalled {
                return Err(Stop::Stalled(turn));
            }
            send_flight(io, segs, done).map_err(|e| Stop::Net(turn, e))?;
            io.me_done = done;
            io.my_turn = false;
            let mut s = self.lock();
            s.turn += 1;
            if io.me_done && io.peer_done {
                s.over = true;
                return Ok(());
            }
        }
        let turn = self.lock().turn;
        let (n, done) = self.recv_flight(io).map_err(|e| Stop::Net(turn, e))?;
        io.peer_done = done;
        io.peer_empty = n == 0;
        io.my_turn = true;
        if io.me_done && io.peer_done {
            self.lock().over = true;
        }
        Ok(())
    }

    /// Reads the peer's flight and hands every segment to its task: (segments, peer done).
    /// The turn moves on first: tasks that the segments wake run in this party's next turn.
    fn recv_flight(&self, io: &mut Io) -> Result<(usize, bool), NetError> {
        let bad = |what: String| NetError::Io(std::io::Error::other(what));
        let mut w = [0u8; 4];
        io.wires[0].recv(&mut w)?;
        let w = u32::from_le_bytes(w);
        let (n, done) = ((w >> 1) as usize, w & 1 == 1);
        let tasks = io.lane.len();
        if n > tasks {
            return Err(bad(format!(
                "the peer's flight names {n} segments; this run has {tasks} tasks"
            )));
        }
        let mut head = vec![0u8; n * SEGMENT_BYTES as usize];
        io.wires[0].recv(&mut head)?;
        io.framing.bytes_received += HEADER_BYTES + head.len() as u64;
        {
            let mut s = self.lock();
            s.turn += 1;
            io.left_at_recv = s.jobs_left;
        }
        for seg in head.chunks_exact(8) {
            let task = u32::from_le_bytes([seg[0], seg[1], seg[2], seg[3]]) as usize;
            let len = u32::from_le_bytes([seg[4], seg[5], seg[6], seg[7]]) as u64;
            if task >= tasks || len > super::MAX_INSTR_BYTES {
                return Err(bad(format!(
                    "the peer's flight has a segment of {len} bytes for task {task} of {tasks}"
                )));
            }
            io.buf.resize(len as usize, 0);
            io.wires[io.lane[task]].recv(&mut io.buf)?;
            self.deliver(task, &io.buf);
        }
        Ok((n, done))
    }

    /// Appends the peer's segment to task `task`'s inbox, waking the task if it now has what
    /// it waits for (it counts as running again from here).
    fn deliver(&self, task: usize, bytes: &[u8]) {
        let mut s = self.lock();
        let slot = &mut s.slots[task];
        if slot.read == slot.inbox.len() {
            slot.inbox.clear();
            slot.read = 0;
        }
        slot.inbox.extend_from_slice(bytes);
        if slot.wants.is_some_and(|w| slot.unread() >= w) {
            slot.wants = None;
            s.running += 1;
            self.arrived[task].notify_all();
        }
    }

    /// Whether task `task` has bytes it has not read (a protocol that ended with bytes of its
    /// peer left over is out of step).
    pub fn unread(&self, task: usize) -> usize {
        self.lock().slots.get(task).map_or(0, Slot::unread)
    }
}

/// Writes one flight: the header on the first connection, each segment on its task's. The
/// segments go connection by connection, each connection flushed before the next is written,
/// and the header lists them in that order, which is the order the peer reads them in: were a
/// later connection's bytes read first, a flight larger than the sockets' buffers would leave
/// this side blocked flushing one connection while the peer waits on another.
fn send_flight(io: &mut Io, mut segs: Vec<Segment>, done: bool) -> Result<(), NetError> {
    segs.sort_by_key(|(t, _)| io.lane[*t as usize]);
    let header = encode_header(&segs, done)?;
    io.wires[0].send(&header)?;
    let mut next = segs.iter().peekable();
    for lane in 0..io.wires.len() {
        while let Some((_, bytes)) = next.next_if(|(t, _)| io.lane[*t as usize] == lane) {
            io.wires[lane].send(bytes)?;
        }
        io.wires[lane].end_flight()?;
    }
    io.framing.bytes_sent += header.len() as u64;
    io.framing.flushes += 1;
    Ok(())
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
    mux: std::sync::Arc<Mux>,
    task: usize,
    stats: Stats,
    /// Bytes were sent since the last end of a flight.
    unflushed: bool,
    /// Ends of flights since the last `recv`: the next `recv` that waits is a round.
    flushed_since_recv: bool,
    joint: u64,
}

impl TaskWire {
    pub fn new(mux: std::sync::Arc<Mux>, task: usize) -> TaskWire {
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
            }
            if s.running == 0 && s.pending == 0 && !s.stepping && !s.over {
                // The last task to park takes the turn itself: no hand-off to the driver.
                s.stepping = true;
                drop(s);
                let r = mux.step();
                mux.after_step(r);
                s = mux.lock();
                continue;
            }
            s = mux.arrived[self.task]
                .wait(s)
                .unwrap_or_else(|p| p.into_inner());
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
