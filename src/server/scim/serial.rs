//! Shared SCIM state beside `AppState`: a turn per resource, so writes to one resource run one
//! after another (in arrival order: tokio's mutex is fair), and a cap on requests served at once.

use super::caps;
use super::schema::Kind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{OwnedMutexGuard, Semaphore};

#[derive(Debug)]
pub struct Shared {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    pub in_flight: Arc<Semaphore>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            locks: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Semaphore::new(caps::MAX_IN_FLIGHT)),
        }
    }
}

/// Forget finished turns once the map holds this many entries.
const SWEEP_AT: usize = 1024;

impl Shared {
    /// Waits for this resource's turn; the turn ends when the guard drops.
    pub async fn turn(&self, kind: Kind, id: &str) -> OwnedMutexGuard<()> {
        let key = format!("{}/{id}", kind.name());
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    if map.len() >= SWEEP_AT {
                        map.retain(|_, w| w.strong_count() > 0);
                    }
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key, Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_per_resource_and_finished_ones_are_forgotten() {
        let s = Shared::default();
        let a = s.turn(Kind::User, "a").await;
        // Another resource is not held up by `a`.
        let _b = s.turn(Kind::User, "b").await;
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), s.turn(Kind::User, "a"));
        assert!(waiting.await.is_err(), "a second turn on `a` must wait");
        drop(a);
        let _a = s.turn(Kind::User, "a").await;
        for i in 0..(SWEEP_AT * 2) {
            drop(s.turn(Kind::Group, &i.to_string()).await);
        }
        assert!(s.locks.lock().unwrap().len() <= SWEEP_AT + 2);
    }
}
