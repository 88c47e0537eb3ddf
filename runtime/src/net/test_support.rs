//! Test helpers shared by the channel and OT tests.

use super::Transport;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counts the bytes that really reach the transport, to check the channel's own counters.
pub(crate) struct Counting<T> {
    pub inner: T,
    pub written: Arc<AtomicU64>,
    pub read: Arc<AtomicU64>,
}

impl<T: Read> Read for Counting<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<T: Write> Write for Counting<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Transport> Transport for Counting<T> {
    fn set_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.inner.set_timeout(t)
    }
}
