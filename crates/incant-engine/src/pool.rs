//! Persistent worker threads that take a parallel step in about a microsecond.
//!
//! Decoding one token of a small model is about 120 short parallel steps (four matrix
//! products per layer, then the output projection), each a few tens of microseconds of
//! work. Handing each one to rayon costs more than the work saves: its idle workers go to
//! sleep between steps and are woken through the kernel (`sched_yield`, futexes and
//! context switches were a quarter of a decoding profile). llama.cpp's answer is ours:
//! workers that spin while steps keep coming, so a step starts by bumping a counter, and
//! that park after a few idle milliseconds, so an idle model costs no CPU.
//!
//! One caller uses the pool at a time. A second caller (another model on another thread)
//! does not wait for it: its step runs on rayon. A step started from inside a step runs on
//! the thread that started it, since every thread is already busy. Work is split into tasks claimed one at a time from a shared counter, so a
//! worker that the OS preempts delays the step by at most one task.
//!
//! Results do not depend on which thread runs which task: every task writes its own
//! outputs, so the kernels' bit-exact parity holds on any thread count.

// The pool hands a job that lives on the caller's stack to other threads, and gives each
// task a distinct `&mut` item of the caller's slice; both need `unsafe`, and each block
// says why it is sound.
#![allow(unsafe_code)]

use rayon::prelude::*;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks. Decoding steps come every few
/// microseconds, tokens every few milliseconds; a request that ends lets the workers sleep.
const SPIN: Duration = Duration::from_millis(2);

/// One parallel step: `n` tasks, claimed through `next`.
#[repr(align(128))]
struct Job<'a> {
    run: &'a (dyn Fn(usize) + Sync),
    n: usize,
    next: AtomicUsize,
}

impl Job<'_> {
    /// Claims and runs tasks until none are left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Relaxed);
            if i >= self.n {
                return;
            }
            (self.run)(i);
        }
    }
}

struct Shared {
    /// The step in progress (type-erased `Job`), or null between steps.
    job: AtomicPtr<()>,
    /// Bumped for every step, so a worker knows when there is something new.
    generation: AtomicU64,
    /// Workers inside a step; the caller waits for zero before its job goes out of scope.
    busy: AtomicUsize,
    /// Parked workers (read without the lock to skip waking when none sleep).
    sleepers: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    /// A task panicked on a worker; the caller re-raises it.
    panicked: AtomicBool,
}

/// The process's spinning workers (one fewer than the threads the engine may use: the
/// caller is the last one).
pub struct Pool {
    shared: &'static Shared,
    workers: usize,
    caller: Mutex<()>,
}

impl Pool {
    /// The process-wide pool, sized from rayon's thread count (`RAYON_NUM_THREADS`, which
    /// `incant --threads` sets) on first use.
    pub fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| Pool::new(rayon::current_num_threads().max(1) - 1))
    }

    fn new(workers: usize) -> Pool {
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            job: AtomicPtr::new(std::ptr::null_mut()),
            generation: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            panicked: AtomicBool::new(false),
        }));
        let workers = (0..workers)
            .filter(|i| {
                std::thread::Builder::new()
                    .name(format!("incant-worker-{i}"))
                    .spawn(move || worker(shared))
                    .is_ok()
            })
            .count();
        Pool {
            shared,
            workers,
            caller: Mutex::new(()),
        }
    }

    /// Threads a step runs on (the workers and the caller).
    pub fn threads(&self) -> usize {
        self.workers + 1
    }

    /// Runs `f(i)` for every `i < n`, in parallel, and returns when all have finished.
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        if n == 0 {
            return;
        }
        // A step inside a step (a task of this pool asking for more threads) runs on the
        // thread it is on: every thread is already busy with the outer step.
        if n == 1 || self.workers == 0 || IN_STEP.get() {
            return (0..n).for_each(f);
        }
        let _caller = match self.caller.try_lock() {
            Ok(guard) => guard,
            // A task panicked on the caller's thread last time; the pool itself is fine.
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            // Another thread's step holds the workers.
            Err(TryLockError::WouldBlock) => return (0..n).into_par_iter().for_each(f),
        };
        let s = self.shared;
        let job = Job {
            run: f,
            n,
            next: AtomicUsize::new(0),
        };
        s.job
            .store((&job as *const Job<'_>).cast_mut().cast(), SeqCst);
        s.generation.fetch_add(1, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            let _lock = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        // Withdraws the job and waits for the workers inside it even if a task of this
        // thread panics, so no worker reads `job` after it is gone.
        struct Finish<'a>(&'a Shared);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.job.store(std::ptr::null_mut(), SeqCst);
                while self.0.busy.load(SeqCst) != 0 {
                    std::hint::spin_loop();
                }
            }
        }
        let finish = Finish(s);
        let in_step = InStep::enter();
        job.work();
        drop(in_step);
        drop(finish);
        if s.panicked.swap(false, SeqCst) {
            panic!("a task of a parallel step panicked on a worker thread");
        }
    }
}

thread_local! {
    /// Whether this thread is running a task of a step (always, on a worker).
    static IN_STEP: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as inside a step until dropped (panics included).
struct InStep;

impl InStep {
    fn enter() -> InStep {
        IN_STEP.set(true);
        InStep
    }
}

impl Drop for InStep {
    fn drop(&mut self) {
        IN_STEP.set(false);
    }
}

fn worker(s: &'static Shared) {
    IN_STEP.set(true);
    let mut seen = 0;
    loop {
        seen = wait_for_step(s, seen);
        s.busy.fetch_add(1, SeqCst);
        let p = s.job.load(SeqCst);
        if !p.is_null() {
            // SAFETY: the caller stores a pointer to a live `Job` and, before the job goes
            // out of scope, nulls it and waits for `busy` to reach zero. This worker counted
            // itself in `busy` before loading the pointer (both sequentially consistent), so
            // either it saw null or the caller is still waiting for it.
            let job = unsafe { &*p.cast::<Job<'_>>() };
            if catch_unwind(AssertUnwindSafe(|| job.work())).is_err() {
                s.panicked.store(true, SeqCst);
                // Claim the remaining tasks so the caller is not left running them alone.
                job.next.store(job.n, SeqCst);
            }
        }
        s.busy.fetch_sub(1, SeqCst);
    }
}

/// Spins, then parks, until a step newer than `seen` starts; returns its generation.
fn wait_for_step(s: &Shared, seen: u64) -> u64 {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let g = s.generation.load(Acquire);
        if g != seen {
            return g;
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1024) && start.elapsed() > SPIN {
            break;
        }
    }
    let mut lock = s.sleep.lock().unwrap_or_else(|e| e.into_inner());
    s.sleepers.fetch_add(1, SeqCst);
    loop {
        let g = s.generation.load(SeqCst);
        if g != seen {
            s.sleepers.fetch_sub(1, SeqCst);
            return g;
        }
        lock = s.wake.wait(lock).unwrap_or_else(|e| e.into_inner());
    }
}

/// Runs `f(i, &mut items[i])` for every item, in parallel on the global pool.
pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
    struct Base<T>(*mut T);
    // SAFETY: the pointer is only used to reach distinct items of a `&mut [T]` with
    // `T: Send`, one task each (see below).
    unsafe impl<T: Send> Sync for Base<T> {}
    let n = items.len();
    let base = Base(items.as_mut_ptr());
    let base = &base;
    Pool::global().run(n, &|i| {
        // SAFETY: `i < n` and every index is claimed by exactly one task (the job's
        // counter hands each out once), so this is the only reference to item `i`, and
        // `items` stays mutably borrowed until `run` returns.
        let item = unsafe { &mut *base.0.add(i) };
        f(i, item)
    });
}

/// Runs `f(c, chunk)` for every `chunk` of `size` values of `out` (`c` counts chunks), in
/// parallel on the global pool.
pub fn for_each_chunk_mut<T: Send>(out: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let mut chunks: Vec<&mut [T]> = out.chunks_mut(size.max(1)).collect();
    for_each_mut(&mut chunks, |c, chunk| f(c, chunk));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_visited_once() {
        for n in [0, 1, 2, 7, 1000] {
            let mut items = vec![0u32; n];
            for_each_mut(&mut items, |i, v| *v += i as u32 + 1);
            assert!(items.iter().enumerate().all(|(i, &v)| v == i as u32 + 1));
        }
    }

    #[test]
    fn chunks_cover_the_slice() {
        let mut out = vec![0usize; 1003];
        for_each_chunk_mut(&mut out, 16, |c, chunk| chunk.fill(c));
        assert!(out.iter().enumerate().all(|(i, &c)| c == i / 16));
    }

    #[test]
    fn steps_after_the_workers_park_still_run() {
        let pool = Pool::new(1);
        let hits = AtomicUsize::new(0);
        for _ in 0..3 {
            pool.run(64, &|_| {
                hits.fetch_add(1, Relaxed);
            });
            std::thread::sleep(SPIN * 2);
        }
        assert_eq!(hits.load(Relaxed), 192);
    }

    #[test]
    fn a_step_inside_a_step_runs_on_the_same_thread() {
        let mut outer = vec![Vec::new(); 4];
        for_each_mut(&mut outer, |_, seen| {
            let mut inner = vec![None; 8];
            for_each_mut(&mut inner, |_, id| *id = Some(std::thread::current().id()));
            let here = std::thread::current().id();
            *seen = inner.into_iter().map(|id| id == Some(here)).collect();
        });
        assert!(outer.iter().flatten().all(|&same| same));
    }

    #[test]
    fn concurrent_callers_each_get_their_results() {
        std::thread::scope(|scope| {
            for t in 0..4usize {
                scope.spawn(move || {
                    for _ in 0..200 {
                        let mut v = vec![0usize; 100];
                        for_each_mut(&mut v, |i, x| *x = i * t);
                        assert!(v.iter().enumerate().all(|(i, &x)| x == i * t));
                    }
                });
            }
        });
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_keeps_working() {
        let pool = Pool::new(1);
        let result = catch_unwind(AssertUnwindSafe(|| {
            pool.run(1000, &|i| assert!(i != 500, "task 500"));
        }));
        assert!(result.is_err());
        let hits = AtomicUsize::new(0);
        pool.run(10, &|_| {
            hits.fetch_add(1, Relaxed);
        });
        assert_eq!(hits.load(Relaxed), 10);
    }
}
