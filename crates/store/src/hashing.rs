//! Password hashing off the async workers, and bounded. Argon2id takes tens of milliseconds and
//! 19 MiB per check by design; run on the request's worker it stalls every other request on that
//! thread, and an unbounded number of unauthenticated logins at once (measured: 400) held the
//! server's memory at 1.6 GB and `/health` at 6.7 s. Here at most one check per core runs, on the
//! blocking pool, a few more wait their turn, and beyond that a login is refused at once as busy
//! (`StoreError::Busy`: 503 with Retry-After) instead of queueing without end.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::StoreError;

/// Checks waiting for a core, beyond those running.
const QUEUE: usize = 32;

#[derive(Debug)]
pub(crate) struct Hashing {
    running: tokio::sync::Semaphore,
    admitted: AtomicUsize,
    limit: usize,
}

/// Holds a place among the admitted; gives it back however the check ends.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hashing {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with(cores, QUEUE)
    }

    pub(crate) fn with(running: usize, queue: usize) -> Self {
        Self {
            running: tokio::sync::Semaphore::new(running.max(1)),
            admitted: AtomicUsize::new(0),
            limit: running.max(1) + queue,
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let place = Place(&self.admitted);
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.limit {
            return Err(StoreError::Busy);
        }
        let _turn = self.running.acquire().await.map_err(|_| StoreError::Busy)?;
        let done = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| StoreError::Interrupted(e.to_string()));
        drop(place);
        done
    }

    pub(crate) async fn verify(&self, password: &str, hash: &str) -> Result<bool, StoreError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        self.run(move || sesshu_crypto::password::verify_password(&password, &hash))
            .await
    }

    pub(crate) async fn hash(&self, password: &str) -> Result<String, StoreError> {
        let password = password.to_owned();
        Ok(self
            .run(move || sesshu_crypto::password::hash_password(&password))
            .await??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_queue_a_check_is_refused_at_once_and_the_rest_complete() {
        let hashing = std::sync::Arc::new(Hashing::with(1, 2));
        let hash = sesshu_crypto::password::hash_password("sakura-2026-x").unwrap();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (h, hash) = (hashing.clone(), hash.clone());
            tasks.push(tokio::spawn(async move {
                h.verify("sakura-2026-x", &hash).await
            }));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(true) => ok += 1,
                Err(StoreError::Busy) => busy += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(ok >= 3, "one running and two waiting complete: {ok}");
        assert!(busy >= 1, "the rest are refused: {busy}");
        assert_eq!(ok + busy, 8);
        // Places are given back: a later check runs.
        assert!(hashing.verify("sakura-2026-x", &hash).await.unwrap());
    }
}
