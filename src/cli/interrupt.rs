//! Ctrl-C for the commands that write files (`augment`, `train`): the first SIGINT stops the
//! run at the next step through a [`StopToken`] (complete shards kept, the partial one
//! removed; the last complete model file untouched) and the command exits with status 130;
//! a second SIGINT ends the process at once (the default action is restored).

use std::sync::OnceLock;

use shardmix::StopToken;

/// The token the handler stops; set before the handler is installed.
static TOKEN: OnceLock<StopToken> = OnceLock::new();

extern "C" fn on_sigint(_: libc::c_int) {
    // Async-signal-safe: a load of an initialised OnceLock and an atomic store.
    if let Some(t) = TOKEN.get() {
        t.stop();
    }
}

/// The token stopped by the first Ctrl-C (the handler is installed on the first call).
pub fn token() -> StopToken {
    let mut installed = false;
    let t = TOKEN.get_or_init(|| {
        installed = true;
        StopToken::new()
    });
    if installed {
        // SAFETY: `sigaction` with a zeroed mask and a handler that only does an atomic
        // store; SA_RESETHAND restores the default action for a second Ctrl-C.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        }
    }
    t.clone()
}
