//! Taking the GIL safely while the interpreter may be exiting.
//!
//! Up to Python 3.13, a thread that takes the GIL after finalization began (a daemon thread,
//! or a native worker thread) is ended by CPython with `pthread_exit`. Its forced unwinding
//! through Rust frames (PyO3's `catch_unwind` around every method) aborts the process with
//! `FATAL: exception not rethrown`; Python 3.14 makes such threads wait forever instead.
//! So every place the package takes the GIL back goes through this module:
//!
//! - [`detach`]: a Python thread that released the GIL (waiting for a batch, writing shards)
//!   and is about to take it back. Once the interpreter exits it waits here for the end of
//!   the process instead, as CPython 3.14 does; [`_close_all`] waits for the threads that
//!   are already taking it back.
//! - [`attach`]: a native thread calling Python (a Python stage on a worker, a progress
//!   line). Once the interpreter exits it does not call; [`_close_all`] waits for the calls
//!   under way to return.
//!
//! [`_close_all`] runs in `atexit`, while the interpreter still works, and sets the flag.
//!
//! Ctrl-C: CPython's SIGINT handler only sets a flag that the main thread acts on when it
//! runs Python code or calls `PyErr_CheckSignals`. A call that waits inside [`detach`] for
//! long work would ignore Ctrl-C until it returns; so long work runs through
//! [`detach_interruptible`] (the work on a scoped native thread, this thread waking every
//! [`SIGNAL_POLL`] through [`detach`] to run the signal handlers) or polls with
//! [`wait_interruptibly`] (a pipeline's `next_within`). Either way the GIL is still taken back only through [`detach`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::OnceLock;
use std::task::Poll;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use shardmix::StopToken;

/// Set by [`_close_all`] when the interpreter exits.
static EXITING: AtomicBool = AtomicBool::new(false);

/// The thread that ran [`_close_all`] (the main thread, in `atexit`): the one thread that
/// may take the GIL during finalization.
static CLOSER: OnceLock<ThreadId> = OnceLock::new();

/// Calls into Python from native threads under way ([`attach`]).
static ATTACHED: AtomicUsize = AtomicUsize::new(0);

/// Python threads past the exit check and taking the GIL back ([`detach`]).
static RETURNING: AtomicUsize = AtomicUsize::new(0);

/// The longest [`_close_all`] waits for calls into Python under way to return (a slow
/// Python stage on a loaded machine).
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// True once the interpreter has begun to exit (see [`_close_all`]).
pub fn exiting() -> bool {
    EXITING.load(Ordering::SeqCst)
}

fn is_closer() -> bool {
    CLOSER.get() == Some(&std::thread::current().id())
}

/// Run `f` with the GIL released, then take it back, unless the interpreter began to exit
/// meanwhile: then this thread (a daemon thread; Python joined the others before `atexit`)
/// waits until the process ends, as CPython 3.14 makes such threads wait.
pub fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    let r = py.detach(|| {
        let r = f();
        // Counted before the check, so that `_close_all` (which sets the flag, then waits
        // for the count to drop to 0) sees every thread that missed the flag.
        RETURNING.fetch_add(1, Ordering::SeqCst);
        if exiting() && !is_closer() {
            RETURNING.fetch_sub(1, Ordering::SeqCst);
            drop(r);
            loop {
                std::thread::park();
            }
        }
        r
    });
    RETURNING.fetch_sub(1, Ordering::SeqCst);
    r
}

/// How often a thread waiting for native work wakes to run Python's signal handlers.
pub const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Call `poll` (which should wait at most about [`SIGNAL_POLL`] and return `Pending` when
/// nothing came by then) with the GIL released until it is ready; between rounds run Python's signal handlers and return the exception
/// one raises (`KeyboardInterrupt` on Ctrl-C).
pub fn wait_interruptibly<T, F>(py: Python<'_>, mut poll: F) -> PyResult<T>
where
    F: Send + FnMut() -> Poll<T>,
    T: Send,
{
    loop {
        match detach(py, &mut poll) {
            Poll::Ready(r) => return Ok(r),
            Poll::Pending => py.check_signals()?,
        }
    }
}

/// Run `work` with the GIL released, on a scoped native thread, while this thread waits for
/// it and every [`SIGNAL_POLL`] runs Python's signal handlers. When a handler raises
/// (`KeyboardInterrupt` on Ctrl-C), stop the token given to `work`, wait for `work` to
/// return (it checks the token at least once per step), and return that exception instead
/// of `work`'s result.
pub fn detach_interruptible<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: Send + FnOnce(&StopToken) -> T,
    T: Send,
{
    let stop = StopToken::new();
    std::thread::scope(|scope| {
        let (done_tx, done) = mpsc::sync_channel::<()>(1);
        let stop_ref = &stop;
        let handle = std::thread::Builder::new()
            .name("shardmix-work".into())
            .spawn_scoped(scope, move || {
                let r = work(stop_ref);
                let _ = done_tx.send(());
                r
            })
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
        // A `Receiver` is not `Sync`: the polls borrow it through a lock.
        let done = std::sync::Mutex::new(done);
        let finished = || match done.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(SIGNAL_POLL) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Poll::Ready(()),
            Err(RecvTimeoutError::Timeout) => Poll::Pending,
        };
        let raised = wait_interruptibly(py, finished).err();
        if raised.is_some() {
            stop.stop();
            // Signals are not checked again while the work stops: a second Ctrl-C is
            // raised by the interpreter once this call has returned.
            detach(py, || {
                let _ = done.lock().unwrap_or_else(|e| e.into_inner()).recv();
            });
        }
        let r = match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match raised {
            Some(e) => Err(e),
            None => Ok(r),
        }
    })
}

/// Call Python from a native thread, or `None` once the interpreter began to exit.
pub fn attach<T>(f: impl for<'py> FnOnce(Python<'py>) -> T) -> Option<T> {
    // Counted before the check, as in `detach`.
    ATTACHED.fetch_add(1, Ordering::SeqCst);
    let r = if exiting() && !is_closer() { None } else { Some(Python::attach(f)) };
    ATTACHED.fetch_sub(1, Ordering::SeqCst);
    r
}

/// Registered with `atexit` by the package: stop every live pipeline (joining its workers)
/// while the interpreter still works, and from then on keep other threads from taking the
/// GIL. Without it, a pipeline dropped during finalization (a module global, an object in a
/// reference cycle) joined workers that were waiting for the GIL to run a Python stage, and
/// a thread taking the GIL during finalization aborts the process or hangs.
#[pyfunction]
pub fn _close_all(py: Python<'_>) {
    let _ = CLOSER.set(std::thread::current().id());
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        crate::pipeline::close_live();
        // The GIL is free here: let calls under way return and threads past the check take
        // it back, before finalization begins. A worker that missed its pipeline's stop
        // grace was detached, not joined, and may still be in a stage call.
        let started = Instant::now();
        while (ATTACHED.load(Ordering::SeqCst) > 0 || RETURNING.load(Ordering::SeqCst) > 0)
            && started.elapsed() < EXIT_WAIT
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
