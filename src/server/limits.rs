//! Rate limits: the failed-login limits (enforced in the database by [`super::auth::login`], so
//! they hold across restarts and instances) and request rates per key: [`ClusterLimiter`]
//! (SCIM per app, OAuth per client ID and address), shared by every instance on the database,
//! with [`KeyedLimiter`] (GCRA in process, via `governor`) as its fallback.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use std::num::NonZeroU32;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LoginLimits {
    pub max_failures_per_username: usize,
    pub max_failures_per_address: usize,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_failures_per_username: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Requests per minute per key.
pub struct KeyedLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl KeyedLimiter {
    pub fn per_minute(n: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        KeyedLimiter {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// `Err(seconds to wait)` when `key` is over its rate.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        // Keys can come from callers (a sprayed client_id), so forget idle ones before the map grows.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

/// Requests per minute per key for the whole cluster: the GCRA state lives in the database
/// (`Store::rate_take`), so N instances together admit what one would, not N times as much.
///
/// Per-request cost: an instance takes a batch of permits in one statement (1/20 of the
/// per-minute rate, 1–64) and serves the next requests of that key from memory, so only one
/// request in a batch touches the database; a refusal is remembered until a permit can be free
/// again, so a flood over the limit is refused from memory too. A batch not used within the time it stands for
/// (batch × 60 s / rate) is dropped, so an idle instance cannot hoard permits and add them to a
/// later burst elsewhere. Batches make the cluster admit at most the limit, and up to
/// (instances × (batch − 1)) permits of a window fewer when traffic is spread thinly.
/// If the database cannot be reached the in-process limiter decides alone.
pub struct ClusterLimiter {
    store: crate::store::Store,
    namespace: &'static str,
    per_minute: u32,
    /// Microseconds one permit stands for (60 s / rate).
    interval_us: i64,
    batch: u32,
    local: std::sync::Mutex<std::collections::HashMap<String, Batch>>,
    /// One database take at a time per key stripe: requests that find no permit wait for the
    /// take in flight and share its batch, instead of each taking a batch of its own.
    taking: [tokio::sync::Mutex<()>; STRIPES],
    fallback: KeyedLimiter,
    takes: std::sync::atomic::AtomicU64,
}

/// What an instance holds for a key: permits taken and not used yet, or a refusal.
enum Batch {
    Permits { left: u32, until: std::time::Instant },
    Refused { until: std::time::Instant },
}

const STRIPES: usize = 16;

/// Prune recovered keys from the database every this many database takes.
const PRUNE_EVERY: u64 = 4096;

impl ClusterLimiter {
    pub fn per_minute(store: crate::store::Store, namespace: &'static str, n: u32) -> Self {
        let n = n.max(1);
        ClusterLimiter {
            store,
            namespace,
            per_minute: n,
            interval_us: (60_000_000 / i64::from(n)).max(1),
            batch: (n / 20).clamp(1, 64),
            local: Default::default(),
            taking: Default::default(),
            fallback: KeyedLimiter::per_minute(n),
            takes: Default::default(),
        }
    }

    /// `Err(seconds to wait)` when `key` is over its rate, counted over every instance.
    pub async fn check(&self, key: &str) -> Result<(), u64> {
        if let Some(answer) = self.held(key) {
            return answer;
        }
        let stripe = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            (h.finish() as usize) % STRIPES
        };
        let _turn = self.taking[stripe].lock().await;
        // The take this request waited for may have left permits (or a refusal) for it.
        if let Some(answer) = self.held(key) {
            return answer;
        }
        self.take(key).await
    }

    /// The answer from what this instance holds for `key`, if it holds anything current.
    fn held(&self, key: &str) -> Option<Result<(), u64>> {
        {
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            match local.get_mut(key) {
                Some(Batch::Permits { left, until }) if *left > 0 && *until > now => {
                    *left -= 1;
                    return Some(Ok(()));
                }
                // Refused a moment ago: no permit is free anywhere before `until`, so a flood
                // over the limit is refused from memory.
                Some(Batch::Refused { until }) if *until > now => {
                    return Some(Err((*until - now).as_secs_f64().ceil().max(1.0) as u64));
                }
                _ => {}
            }
        }
        None
    }

    async fn take(&self, key: &str) -> Result<(), u64> {
        let db_key = format!("{}:{key}", self.namespace);
        let now_us = now_micros();
        let burst_us = self.interval_us * i64::from(self.per_minute);
        let mut batch = self.batch;
        loop {
            let cost_us = self.interval_us * i64::from(batch);
            match self.store.rate_take(&db_key, now_us, cost_us, burst_us).await {
                Ok(crate::store::RateTake::Taken) => {
                    self.remember(
                        key,
                        Batch::Permits {
                            left: batch - 1,
                            until: std::time::Instant::now() + Duration::from_micros(cost_us.max(0) as u64),
                        },
                    );
                    self.prune_now_and_then(now_us).await;
                    return Ok(());
                }
                Ok(crate::store::RateTake::Refused { tat_us }) if batch == 1 => {
                    let wait_us = (tat_us + self.interval_us - burst_us - now_us).max(1);
                    self.remember(
                        key,
                        Batch::Refused {
                            until: std::time::Instant::now() + Duration::from_micros(wait_us as u64),
                        },
                    );
                    return Err((wait_us as u64).div_ceil(1_000_000).max(1));
                }
                // A whole batch no longer fits; a single permit may.
                Ok(crate::store::RateTake::Refused { .. }) => batch = 1,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster rate limit unavailable; counting in this instance");
                    return self.fallback.check(key);
                }
            }
        }
    }

    fn remember(&self, key: &str, batch: Batch) {
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if local.len() > 10_000 {
            let now = std::time::Instant::now();
            local.retain(|_, b| match b {
                Batch::Permits { left, until } => *left > 0 && *until > now,
                Batch::Refused { until } => *until > now,
            });
        }
        local.insert(key.to_owned(), batch);
    }

    async fn prune_now_and_then(&self, now_us: i64) {
        let n = self.takes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % PRUNE_EVERY == PRUNE_EVERY - 1
            && let Err(e) = self.store.rate_prune(now_us).await
        {
            tracing::warn!(error = %e, "pruning rate limit rows failed");
        }
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two limiters on one database (two instances) admit one quota between them, however the
    /// requests are spread, and a key's batch does not spill onto another key.
    #[tokio::test]
    async fn cluster_limiters_share_one_quota() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("l.db").display());
        let store = crate::store::Store::open(&url).await.unwrap();
        let a = ClusterLimiter::per_minute(store.clone(), "scim", 200);
        let b = ClusterLimiter::per_minute(store.clone(), "scim", 200);
        let mut admitted = 0;
        for i in 0..600 {
            let l = if i % 3 == 0 { &a } else { &b };
            if l.check("app").await.is_ok() {
                admitted += 1;
            }
        }
        // One quota (200) plus what the rate refills while the loop runs, minus at most one
        // unused batch per instance.
        assert!((180..=210).contains(&admitted), "{admitted}");
        assert!(a.check("other").await.is_ok());
        let wait = b.check("app").await.unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        store.close().await;
    }

    #[test]
    fn keyed_limiter_refuses_past_the_quota() {
        let limiter = KeyedLimiter::per_minute(3);
        for _ in 0..3 {
            assert!(limiter.check("app").is_ok());
        }
        assert!(limiter.check("app").unwrap_err() >= 1);
        assert!(limiter.check("other").is_ok());
    }
}
