//! Rate limits: the failed-login limits (enforced in the database by [`super::auth::login`], so
//! they hold across restarts and instances) and request rates per key (GCRA via `governor`).

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

#[cfg(test)]
mod tests {
    use super::*;

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
