//! Rate limits: failed logins (a sliding window per username and per address) and request
//! rates per key (GCRA via `governor`).

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Counts recent failed logins; a key over its limit is refused until the oldest failure ages out.
pub struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, address: &str) -> [(String, bool); 2] {
        [
            (format!("user:{}", username.to_lowercase()), true),
            (format!("addr:{address}"), false),
        ]
    }

    /// `Err(seconds to wait)` if either the username or the address is locked out.
    pub fn check(&self, username: &str, address: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for (key, is_user) in Self::keys(username, address) {
            let max = if is_user {
                self.limits.max_failures_per_username
            } else {
                self.limits.max_failures_per_address
            };
            if let Some(times) = failures.get_mut(&key) {
                times.retain(|t| now.duration_since(*t) < self.limits.window);
                if times.len() >= max {
                    let wait = self.limits.window.saturating_sub(now.duration_since(times[0]));
                    return Err(wait.as_secs().max(1));
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, username: &str, address: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Keep the map bounded under a spray of usernames.
        if failures.len() > 100_000 {
            failures.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < self.limits.window));
        }
        for (key, _) in Self::keys(username, address) {
            failures.entry(key).or_default().push(now);
        }
    }

    pub fn record_success(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&format!("user:{}", username.to_lowercase()));
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
    fn login_lockout_is_per_username_and_cleared_by_success() {
        let limiter = LoginLimiter::new(LoginLimits {
            max_failures_per_username: 2,
            ..Default::default()
        });
        limiter.record_failure("Ann", "1.1.1.1");
        assert!(limiter.check("ann", "2.2.2.2").is_ok());
        limiter.record_failure("ann", "2.2.2.2");
        assert!(limiter.check("ANN", "3.3.3.3").is_err());
        assert!(limiter.check("bob", "3.3.3.3").is_ok());
        limiter.record_success("ann");
        assert!(limiter.check("ann", "3.3.3.3").is_ok());
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
