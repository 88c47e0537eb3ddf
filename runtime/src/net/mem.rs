//! An in-process byte pipe pair, for tests: behaves like a socket pair (EOF when the peer is
//! dropped, a broken pipe when writing to a dropped peer, read timeouts) without the kernel.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Transport;

#[derive(Default)]
struct PipeState {
    data: VecDeque<u8>,
    writer_gone: bool,
    reader_gone: bool,
}

#[derive(Default)]
struct Pipe {
    state: Mutex<PipeState>,
    ready: Condvar,
}

impl Pipe {
    fn lock(&self) -> MutexGuard<'_, PipeState> {
        // A panic while holding this lock cannot leave the byte queue inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One end of an in-memory connection (see [`mem_pair`]).
pub struct MemStream {
    rx: Arc<Pipe>,
    tx: Arc<Pipe>,
    timeout: Option<Duration>,
}

/// Two connected in-memory streams. Buffering is unbounded, so unlike a socket a writer
/// never blocks.
pub fn mem_pair() -> (MemStream, MemStream) {
    let a = Arc::new(Pipe::default());
    let b = Arc::new(Pipe::default());
    (
        MemStream {
            rx: a.clone(),
            tx: b.clone(),
            timeout: None,
        },
        MemStream {
            rx: b,
            tx: a,
            timeout: None,
        },
    )
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut st = self.rx.lock();
        loop {
            if !st.data.is_empty() {
                let n = buf.len().min(st.data.len());
                for (dst, src) in buf.iter_mut().zip(st.data.drain(..n)) {
                    *dst = src;
                }
                return Ok(n);
            }
            if st.writer_gone {
                return Ok(0);
            }
            st = match deadline {
                None => self.rx.ready.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(io::Error::new(ErrorKind::TimedOut, "read timed out"));
                    }
                    self.rx
                        .ready
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.tx.lock();
        if st.reader_gone {
            return Err(io::Error::new(ErrorKind::BrokenPipe, "peer dropped"));
        }
        st.data.extend(buf);
        drop(st);
        self.tx.ready.notify_all();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for MemStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeout = timeout;
        Ok(())
    }
}

impl Drop for MemStream {
    fn drop(&mut self) {
        self.tx.lock().writer_gone = true;
        self.tx.ready.notify_all();
        self.rx.lock().reader_gone = true;
        self.rx.ready.notify_all();
    }
}
