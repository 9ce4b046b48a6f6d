//! Which case a free worker runs next, so that per-provider limits never idle the pool.
//!
//! Each provider (target) has its own queue of case indices and its own limit on calls in
//! flight (the local engine takes one at a time; an API may allow eight). A worker takes
//! the next case from the first provider, in round-robin order, that has both work left
//! and a free slot; when every provider with work is at its limit it sleeps until a slot
//! is released. A suite that mixes `local:smollm2` with an HTTP provider therefore keeps
//! the HTTP calls flowing while the local model works through its queue, and waiting for
//! a slot happens before a case's clock starts, so it is never counted as latency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// One provider's queue.
struct Lane {
    cases: Vec<usize>,
    next: AtomicUsize,
    limit: usize,
}

/// The scheduler shared by the workers.
pub struct Scheduler {
    lanes: Vec<Lane>,
    /// Calls in flight per lane, guarded together so a waiting worker sees every release.
    in_flight: Mutex<Vec<usize>>,
    released: Condvar,
    turn: AtomicUsize,
}

/// A case taken from the scheduler; dropping it frees the provider's slot.
pub struct Slot<'a> {
    scheduler: &'a Scheduler,
    lane: usize,
    /// The case index.
    pub case: usize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .scheduler
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        in_flight[self.lane] -= 1;
        drop(in_flight);
        self.scheduler.released.notify_all();
    }
}

impl Scheduler {
    /// `lanes[t]` = (the cases of provider `t` in order, its limit; `None` = unlimited).
    pub fn new(lanes: Vec<(Vec<usize>, Option<usize>)>) -> Self {
        let n = lanes.len();
        Self {
            lanes: lanes
                .into_iter()
                .map(|(cases, limit)| Lane {
                    cases,
                    next: AtomicUsize::new(0),
                    limit: limit.unwrap_or(usize::MAX).max(1),
                })
                .collect(),
            in_flight: Mutex::new(vec![0; n]),
            released: Condvar::new(),
            turn: AtomicUsize::new(0),
        }
    }

    /// The next case to run, waiting for a free slot if need be; `None` when no work is
    /// left.
    pub fn next(&self) -> Option<Slot<'_>> {
        let n = self.lanes.len();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let start = self.turn.fetch_add(1, Ordering::Relaxed);
            let mut work_left = false;
            for k in 0..n {
                let lane_index = (start + k) % n;
                let lane = &self.lanes[lane_index];
                if lane.next.load(Ordering::Relaxed) >= lane.cases.len() {
                    continue;
                }
                work_left = true;
                if in_flight[lane_index] >= lane.limit {
                    continue;
                }
                let i = lane.next.fetch_add(1, Ordering::Relaxed);
                if let Some(&case) = lane.cases.get(i) {
                    in_flight[lane_index] += 1;
                    return Some(Slot {
                        scheduler: self,
                        lane: lane_index,
                        case,
                    });
                }
            }
            if !work_left {
                return None;
            }
            in_flight = self
                .released
                .wait(in_flight)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn limits_hold_and_unlimited_lanes_keep_flowing() {
        let sched = Scheduler::new(vec![((0..6).collect(), Some(1)), ((6..30).collect(), None)]);
        let (busy_a, max_a) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let done = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    while let Some(slot) = sched.next() {
                        if slot.case < 6 {
                            let now = busy_a.fetch_add(1, Ordering::SeqCst) + 1;
                            max_a.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            busy_a.fetch_sub(1, Ordering::SeqCst);
                        }
                        done.lock().unwrap().push(slot.case);
                    }
                });
            }
        });
        let mut done = done.into_inner().unwrap();
        done.sort_unstable();
        assert_eq!(done, (0..30).collect::<Vec<_>>());
        assert_eq!(
            max_a.load(Ordering::SeqCst),
            1,
            "lane 0 never ran two at once"
        );
    }

    #[test]
    fn empty_lanes_end_at_once() {
        let sched = Scheduler::new(vec![(vec![], Some(1)), (vec![], None)]);
        assert!(sched.next().is_none());
        let sched = Scheduler::new(vec![]);
        assert!(sched.next().is_none());
    }
}
