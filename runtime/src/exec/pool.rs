//! Threads for a run's tasks, reused: a task blocks while it waits on its peer, so every task
//! needs a thread of its own while it lives, but not a new one. A submitted task goes to a
//! waiting thread if there is one, else to a new thread; threads end when the pool closes.
//! Reuse spares a run of thousands of tasks the spawn, the stack's mapping and its unmapping
//! (with the cross-core TLB flushes that brings) per task.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::Scope;

type Job<'s> = Box<dyn FnOnce() + Send + 's>;

struct Queue<'s> {
    jobs: VecDeque<Job<'s>>,
    /// Threads waiting for a job.
    waiting: usize,
    closed: bool,
}

struct Shared<'s> {
    queue: Mutex<Queue<'s>>,
    ready: Condvar,
}

impl<'s> Shared<'s> {
    fn lock(&self) -> MutexGuard<'_, Queue<'s>> {
        // Jobs run outside the lock; a panic inside it cannot happen.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A growing set of scoped threads.
pub struct Pool<'scope, 'env: 'scope> {
    scope: &'scope Scope<'scope, 'env>,
    shared: Arc<Shared<'scope>>,
}

impl<'scope, 'env> Pool<'scope, 'env> {
    pub fn new(scope: &'scope Scope<'scope, 'env>) -> Self {
        Pool {
            scope,
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    jobs: VecDeque::new(),
                    waiting: 0,
                    closed: false,
                }),
                ready: Condvar::new(),
            }),
        }
    }

    /// Runs `f` on a thread of its own: a waiting one, or a new one.
    pub fn submit(&self, f: impl FnOnce() + Send + 'scope) -> std::io::Result<()> {
        let mut q = self.shared.lock();
        q.jobs.push_back(Box::new(f));
        // Every queued job has a waiting thread to take it: wake one.
        if q.jobs.len() <= q.waiting {
            self.shared.ready.notify_one();
            return Ok(());
        }
        drop(q);
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("sir-task".into())
            .spawn_scoped(self.scope, move || work(&shared))?;
        Ok(())
    }

    /// Lets every thread end once the jobs queued are done (before the scope joins them).
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

fn work(shared: &Shared<'_>) {
    let mut q = shared.lock();
    loop {
        if let Some(job) = q.jobs.pop_front() {
            drop(q);
            job();
            q = shared.lock();
            continue;
        }
        if q.closed {
            return;
        }
        q.waiting += 1;
        q = shared.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        q.waiting -= 1;
    }
}
