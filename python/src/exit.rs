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

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

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
