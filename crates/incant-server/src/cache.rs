//! The response cache and in-flight coalescing.
//!
//! A request's key is a hash of what decides its answer: the endpoint, the resolved prompt
//! version and its file hash, and the request body's exact bytes. Entries live `ttl` and
//! the cache holds at most `max_entries` (oldest first out). Only deterministic requests
//! are cached (greedy, or sampled with a seed): caching a free sample would freeze it.
//!
//! Identical requests that arrive while the first is still running wait for its answer
//! instead of running again ([`Coalescer`]): with an inline-completion UI many clients ask
//! the same thing at the same moment.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// A cache key: the hash and the bytes it was computed from (compared on hit, so a hash
/// collision can never serve another request's answer).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    hash: u64,
    material: Arc<[u8]>,
}

impl CacheKey {
    /// A key over `parts`.
    pub fn new(parts: &[&[u8]]) -> Self {
        let mut material = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
        for p in parts {
            material.extend_from_slice(&(p.len() as u64).to_le_bytes());
            material.extend_from_slice(p);
        }
        let mut h = DefaultHasher::new();
        material.hash(&mut h);
        Self {
            hash: h.finish(),
            material: material.into(),
        }
    }
}

struct Entry<V> {
    value: V,
    at: Instant,
}

/// The entries and their insertion order (oldest first).
type Store<V> = (HashMap<CacheKey, Entry<V>>, VecDeque<(CacheKey, Instant)>);

/// A TTL- and size-bounded map.
pub struct ResponseCache<V> {
    ttl: Duration,
    max_entries: usize,
    inner: Mutex<Store<V>>,
}

impl<V: Clone> ResponseCache<V> {
    /// An empty cache.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// The live entry for `key`.
    pub fn get(&self, key: &CacheKey) -> Option<V> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .0
            .get(key)
            .filter(|e| e.at.elapsed() < self.ttl)
            .map(|e| e.value.clone())
    }

    /// Stores `value`, evicting expired and then the oldest entries beyond the bound.
    pub fn put(&self, key: CacheKey, value: V) {
        if self.max_entries == 0 {
            return;
        }
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        while let Some((k, at)) = order.front() {
            let expired = at.elapsed() >= self.ttl;
            if !expired && map.len() < self.max_entries {
                break;
            }
            // Only drop the map entry if it is the one this order slot recorded.
            if map.get(k).is_some_and(|e| e.at == *at) {
                map.remove(k);
            }
            order.pop_front();
        }
        order.push_back((key.clone(), now));
        map.insert(key, Entry { value, at: now });
    }

    /// Entries held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Cell<V> = Arc<OnceCell<V>>;

/// Runs one computation per key at a time; concurrent callers share its result.
pub struct Coalescer<V> {
    inflight: Mutex<HashMap<CacheKey, Cell<V>>>,
}

impl<V: Clone> Default for Coalescer<V> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> Coalescer<V> {
    /// Runs `make` unless an identical call is running; returns the value and whether it
    /// was shared from another caller.
    pub async fn run<F, Fut>(&self, key: &CacheKey, make: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let mut ran = false;
        let value = cell
            .get_or_init(|| {
                ran = true;
                make()
            })
            .await
            .clone();
        if ran {
            let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                map.remove(key);
            }
        }
        (value, !ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn ttl_and_size_bound() {
        let c = ResponseCache::new(Duration::from_millis(50), 2);
        let k = |s: &str| CacheKey::new(&[s.as_bytes()]);
        c.put(k("a"), 1);
        c.put(k("b"), 2);
        c.put(k("c"), 3);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&k("a")), None);
        assert_eq!(c.get(&k("c")), Some(3));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&k("c")), None);
        // Keys over different splits of the same bytes differ.
        assert_ne!(CacheKey::new(&[b"ab", b"c"]), CacheKey::new(&[b"a", b"bc"]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn identical_calls_run_once() {
        let co = Arc::new(Coalescer::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let key = CacheKey::new(&[b"same"]);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (co, runs, key) = (co.clone(), runs.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                co.run(&key, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    42
                })
                .await
            }));
        }
        let mut shared = 0;
        for t in tasks {
            let (v, s) = t.await.unwrap();
            assert_eq!(v, 42);
            shared += usize::from(s);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(shared, 7);
        // Once finished, the next call runs again.
        let (_, s) = co.run(&key, || async { 1 }).await;
        assert!(!s);
    }
}
