//! An exclusive lock on an output directory, so that two writers cannot interleave their
//! shards in it.
//!
//! The lock is an `flock(2)` (through [`File::try_lock`]) on the directory itself, not on a
//! lock file inside it: the kernel releases it when the holder exits, however it exits
//! (kill -9 included), so there is never a stale lock to clean up, no race between removing
//! a lock file and another process opening it, and no extra file in the output listing.
//! On Linux the holder's pid is looked up in `/proc/locks` for the error message.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// An exclusive lock on a directory, held until dropped.
///
/// # Example
/// ```
/// use shardmix::{format::DirLock, ErrorKind};
/// let dir = tempfile::tempdir().unwrap();
/// let lock = DirLock::acquire(dir.path())?;
/// let err = DirLock::acquire(dir.path()).err().unwrap(); // a second writer fails (in 0.25 s)
/// assert!(matches!(err.kind(), ErrorKind::OutputLocked { .. }));
/// drop(lock);
/// DirLock::acquire(dir.path())?; // free again
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    /// The open directory holding the lock; `None` when the filesystem has no locks.
    handle: Option<File>,
}

impl DirLock {
    /// Lock `dir` (which must exist), waiting at most about 0.25 s.
    ///
    /// On a filesystem that does not support `flock` (some network filesystems) the lock
    /// is not enforced: `acquire` succeeds and [`is_enforced`](Self::is_enforced) is false.
    ///
    /// # Errors
    /// [`ErrorKind::OutputLocked`] naming the directory (and, on Linux, the holder's pid)
    /// when another handle holds the lock — another process, or another sink in this
    /// process; [`ErrorKind::Io`] when the directory cannot be opened.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        Self::lock(dir, false)
    }

    /// Lock `dir` shared, waiting at most about 0.25 s: any number of shared holders coexist (the tasks
    /// of a distributed run, each writing its own shards), and each excludes an exclusive
    /// holder ([`acquire`](Self::acquire): a single-process run, or the preparation and the
    /// manifest of a distributed one).
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), when an exclusive holder has the directory.
    pub fn acquire_shared(dir: &Path) -> Result<DirLock> {
        Self::lock(dir, true)
    }

    fn lock(dir: &Path, shared: bool) -> Result<DirLock> {
        let handle = File::open(dir).map_err(|e| Error::io(dir, e))?;
        let try_lock = || if shared { handle.try_lock_shared() } else { handle.try_lock() };
        let mut locked = try_lock();
        // A lock just released can still be held for a moment: a process forked by another
        // thread while it was held keeps a copy of the handle until it executes its program
        // (the handle is close-on-exec). A few short retries tell that from a real holder.
        for _ in 0..LOCK_RETRIES {
            if !matches!(locked, Err(TryLockError::WouldBlock)) {
                break;
            }
            std::thread::sleep(LOCK_RETRY_WAIT);
            locked = try_lock();
        }
        match locked {
            Ok(()) => Ok(DirLock { dir: dir.to_path_buf(), handle: Some(handle) }),
            Err(TryLockError::WouldBlock) => {
                Err(ErrorKind::OutputLocked { path: dir.to_path_buf(), pid: holder_pid(&handle) }.into())
            }
            Err(TryLockError::Error(e)) if unsupported(&e) => Ok(DirLock { dir: dir.to_path_buf(), handle: None }),
            Err(TryLockError::Error(e)) => Err(Error::io(dir, e)),
        }
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// False when the filesystem does not support locks and the directory is not protected.
    pub fn is_enforced(&self) -> bool {
        self.handle.is_some()
    }
}

/// Retries of a lock found held, [`LOCK_RETRY_WAIT`] apart: a real holder is reported after
/// about a quarter of a second.
const LOCK_RETRIES: u32 = 5;
const LOCK_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Errors by which a filesystem says it has no `flock`.
fn unsupported(e: &std::io::Error) -> bool {
    const EBADF: i32 = 9;
    const EINVAL: i32 = 22;
    const ENOLCK: i32 = 37;
    const EOPNOTSUPP: i32 = 95;
    e.kind() == std::io::ErrorKind::Unsupported
        || (cfg!(target_os = "linux") && matches!(e.raw_os_error(), Some(EBADF | EINVAL | ENOLCK | EOPNOTSUPP)))
}

/// The pid holding an `flock` on the file of `handle`, from `/proc/locks` (Linux only).
#[cfg(target_os = "linux")]
pub(super) fn holder_pid(handle: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = handle.metadata().ok()?;
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    holder_in_proc_locks(&text, meta.dev(), meta.ino())
}

#[cfg(not(target_os = "linux"))]
pub(super) fn holder_pid(_handle: &File) -> Option<u32> {
    None
}

/// Find the holder of an exclusive `FLOCK` on (dev, ino) in the text of `/proc/locks`:
/// `1: FLOCK  ADVISORY  WRITE 12435 fe:00:6374106 0 EOF` (device as hex major:minor; waiters
/// are marked `->` and skipped).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn holder_in_proc_locks(text: &str, dev: u64, ino: u64) -> Option<u32> {
    // glibc's encoding of dev_t.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] == "->" || f[1] != "FLOCK" || f[3] != "WRITE" {
            return None;
        }
        let mut id = f[5].split(':');
        let (ma, mi, i) = (id.next()?, id.next()?, id.next()?);
        let same = u64::from_str_radix(ma, 16).ok()? == major
            && u64::from_str_radix(mi, 16).ok()? == minor
            && i.parse::<u64>().ok()? == ino;
        if same {
            f[4].parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_parsed() {
        let text = "1: POSIX  ADVISORY  WRITE 77 fe:00:42 0 EOF\n\
                    2: FLOCK  ADVISORY  READ 78 fe:00:42 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 79 fe:01:42 0 EOF\n\
                    4: FLOCK  ADVISORY  WRITE 80 fe:00:42 0 EOF\n\
                    4: -> FLOCK  ADVISORY  WRITE 81 fe:00:42 0 EOF\n";
        let dev = (0xfe << 8) as u64; // major 0xfe, minor 0
        assert_eq!(holder_in_proc_locks(text, dev, 42), Some(80));
        assert_eq!(holder_in_proc_locks(text, dev | 1, 42), Some(79));
        assert_eq!(holder_in_proc_locks(text, dev, 43), None);
    }

    #[test]
    fn second_lock_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        assert!(first.is_enforced());
        let err = DirLock::acquire(dir.path()).unwrap_err();
        match err.kind() {
            ErrorKind::OutputLocked { path, pid } => {
                assert_eq!(path, dir.path());
                if cfg!(target_os = "linux") && Path::new("/proc/locks").exists() {
                    assert_eq!(*pid, Some(std::process::id()));
                }
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
        drop(first);
        let again = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(again.dir(), dir.path());
        // Nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn shared_holders_coexist_and_exclude_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirLock::acquire_shared(dir.path()).unwrap();
        let b = DirLock::acquire_shared(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::OutputLocked { .. }), "{err:?}");
        drop((a, b));
        let x = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire_shared(dir.path()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::OutputLocked { .. }), "{err:?}");
        drop(x);
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = DirLock::acquire(&missing).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Io { path, .. } if *path == missing), "{err:?}");
    }
}
