//! The blocking facade over `object_store`'s async API: one small tokio runtime per store,
//! and [`Blocking::run`], which any thread (a decode worker, the main thread) calls to wait for
//! one future with an overall deadline.

use std::future::Future;
use std::io;
use std::time::Duration;

/// The environment variable that bounds one read from an object store, in seconds (retries
/// included); see [`DEFAULT_TIMEOUT`].
pub const TIMEOUT_ENV: &str = "SHARDMIX_STORE_TIMEOUT";

/// The default bound on one read from an object store, retries included: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The overall bound on one read: [`TIMEOUT_ENV`] in seconds (fractions allowed) when set,
/// else [`DEFAULT_TIMEOUT`].
///
/// # Errors
/// [`crate::ErrorKind::Config`] for a value that is not a positive number of seconds.
pub(crate) fn timeout_from_env() -> crate::error::Result<Duration> {
    match std::env::var(TIMEOUT_ENV) {
        Err(_) => Ok(DEFAULT_TIMEOUT),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                crate::error::Error::config(TIMEOUT_ENV, format!("'{v}' is not a number of seconds in (0, 86400]"))
            }),
    }
}

/// A tokio runtime owned by one store, driven from blocking callers.
#[derive(Debug)]
pub(crate) struct Blocking {
    rt: Option<tokio::runtime::Runtime>,
    timeout: Duration,
}

impl Blocking {
    /// A runtime of two worker threads (I/O waits, not computation: the requests of every
    /// caller are in flight together) bounding each [`Blocking::run`] by `timeout`.
    pub fn new(timeout: Duration) -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("shardmix-store")
            .enable_all()
            .build()?;
        Ok(Blocking { rt: Some(rt), timeout })
    }

    /// Run `fut` on the runtime and wait for it, at most the store's timeout: then the error
    /// is [`io::ErrorKind::TimedOut`]. Safe to call from any thread, also from inside another
    /// tokio runtime (the future is spawned, not `block_on`'d).
    pub fn run<T, F>(&self, fut: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: Future<Output = io::Result<T>> + Send + 'static,
    {
        let timeout = self.timeout;
        self.run_stepwise(bounded(timeout, fut))
    }

    /// Run `fut` on the runtime and wait for it without an overall deadline: for a future that
    /// bounds each of its own steps with [`bounded`] (a download that may take longer than
    /// one read, and must make progress at least every [`Blocking::timeout`]).
    pub fn run_stepwise<T, F>(&self, fut: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: Future<Output = io::Result<T>> + Send + 'static,
    {
        let Some(rt) = &self.rt else { return Err(io::Error::other("the object store's runtime is shut down")) };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| Err(io::Error::other("the object store's runtime stopped")))
    }

    /// The bound on one read ([`TIMEOUT_ENV`]).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// `fut`, or [`io::ErrorKind::TimedOut`] naming [`TIMEOUT_ENV`] when it takes longer than
/// `timeout`.
pub(crate) async fn bounded<T>(timeout: Duration, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_elapsed) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no answer from the store within {:.1} s, retries included (set {TIMEOUT_ENV} to change the bound)",
                timeout.as_secs_f64()
            ),
        )),
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        // Never block (or panic, inside an async context) when the last handle goes.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_that_never_ends_times_out_in_bounded_time() {
        let b = Blocking::new(Duration::from_millis(200)).unwrap();
        let t = std::time::Instant::now();
        let err = b.run(std::future::pending::<io::Result<()>>()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains(TIMEOUT_ENV), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(b.run(async { Ok(7) }).unwrap(), 7);
    }

    #[test]
    fn runs_from_many_threads_at_once() {
        let b = std::sync::Arc::new(Blocking::new(Duration::from_secs(5)).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let b = b.clone();
                std::thread::spawn(move || {
                    b.run(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(i)
                    })
                })
            })
            .collect();
        let got: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        assert_eq!(got, (0..8).collect::<Vec<_>>());
    }
}
