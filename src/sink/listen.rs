//! Where an IPC stream goes: standard output, a Unix socket, or a TCP port, each waiting
//! for one reader.
//!
//! * `-`: standard output (written through its file descriptor, bypassing Rust's line
//!   buffering);
//! * `unix:PATH`: a Unix socket created with mode 0600. The run first takes an exclusive
//!   `flock` on `PATH.lock` (opened without following symbolic links, held until the socket
//!   is dropped): a second run for the same `PATH` fails at once, naming the holder's pid, and
//!   never connects to the first run's socket (which would take its one `accept`). Holding
//!   the lock, a socket file at `PATH` is replaced only when connecting to it is *refused*
//!   (nobody listens: a crashed run's leftover); anything else at `PATH` is an error. The
//!   socket is bound inside a fresh private (0700) directory, chmod-ed, then hard-linked to
//!   `PATH` — a link never replaces an existing file, so a file created at `PATH` meanwhile
//!   makes the run fail instead of being overwritten. The socket file and the lock file are
//!   removed when the connection (or the unaccepted target) is dropped, if they are still the
//!   ones this run created;
//! * `tcp:HOST:PORT`: a TCP listener; a non-loopback `HOST` is refused unless `allow_remote`
//!   (the stream is unauthenticated and unencrypted). Port 0 picks a free port, reported
//!   by [`StreamTarget::local_addr`].
//!
//! A *send timeout* ([`StreamTarget::send_timeout`]) bounds how long a write may wait for a
//! reader that stopped reading (socket targets, and standard output when it is a pipe): the
//! write fails with [`io::ErrorKind::TimedOut`], the connection is shut down, and later
//! writes fail at once, so that the producer never blocks forever.

use std::fs::{self, File, TryLockError};
use std::io::{self, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::lock::holder_pid;
use super::manifest::output;
use crate::error::{Error, ErrorKind, Result};

/// Write buffer of an accepted connection (bytes).
const BUFFER: usize = 1 << 20;

/// A `write_all` at least this long with nothing buffered before it goes to the endpoint
/// directly (the IPC sink writes each batch as one whole message: copying it into the
/// buffer first would only cost a copy).
const DIRECT: usize = 8 << 10;

/// How many fresh names are tried for the private bind directory, and how many times the
/// lock file is reopened when it was replaced under us.
const ATTEMPTS: usize = 8;

/// A bound stream destination waiting for its reader; see [`open_stream`].
///
/// # Example
/// ```
/// use std::io::{Read, Write};
/// let target = shardmix::open_stream("tcp:127.0.0.1:0", false)?;
/// let addr = target.local_addr().unwrap();
/// let reader = std::thread::spawn(move || {
///     let mut s = std::net::TcpStream::connect(addr).unwrap();
///     let mut got = String::new();
///     s.read_to_string(&mut got).unwrap();
///     got
/// });
/// let mut w = target.accept(Some(std::time::Duration::from_secs(10)))?;
/// w.write_all(b"hello").unwrap();
/// drop(w);
/// assert_eq!(reader.join().unwrap(), "hello");
/// # Ok::<(), shardmix::Error>(())
/// ```
#[derive(Debug)]
pub struct StreamTarget {
    kind: Kind,
    description: String,
    send_timeout: Option<Duration>,
}

#[derive(Debug)]
enum Kind {
    Stdout,
    Unix { listener: UnixListener, file: SocketFile },
    Tcp { listener: TcpListener },
}

/// The identity of a file: (device, inode).
type FileId = (u64, u64);

fn file_id(meta: &fs::Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// Removes `path` if it is still the file `id` (not one another process put there since).
fn remove_if_same(path: &Path, id: FileId) {
    if fs::symlink_metadata(path).is_ok_and(|m| file_id(&m) == id) {
        let _ = fs::remove_file(path);
    }
}

/// The claimed socket path: removes the socket file when dropped, then (dropping `lock`)
/// the lock file, and only then releases the lock.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    id: FileId,
    _lock: SocketLock,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        remove_if_same(&self.path, self.id);
    }
}

/// An exclusive `flock` on `PATH.lock`, held while the handle is open; the lock file is
/// removed (while still locked) when dropped.
#[derive(Debug)]
struct SocketLock {
    path: PathBuf,
    id: FileId,
    _handle: File,
}

impl Drop for SocketLock {
    fn drop(&mut self) {
        remove_if_same(&self.path, self.id);
    }
}

/// The lock file of the socket `path`: `PATH.lock`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Take the exclusive lock on `PATH.lock` without waiting. The file is opened with
/// `O_NOFOLLOW` (a symbolic link there is an error), must be a regular file owned by this
/// user, and is re-checked after locking to still be the file at that path (a previous
/// holder removes it on exit; locking a removed file would lock nothing).
fn claim_lock(socket: &Path) -> Result<SocketLock> {
    let path = lock_path(socket);
    for _ in 0..ATTEMPTS {
        let handle = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => output(&path, "is a symbolic link; refusing to use it as the socket's lock file"),
                _ => Error::io(&path, e),
            })?;
        let meta = handle.metadata().map_err(|e| Error::io(&path, e))?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if !meta.file_type().is_file() || meta.uid() != me {
            return Err(output(
                &path,
                "is not a regular file of this user; refusing to use it as the socket's lock file",
            ));
        }
        match handle.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let pid = holder_pid(&handle).map(|p| format!(" (pid {p})")).unwrap_or_default();
                return Err(output(
                    socket,
                    format!(
                        "another shardmix run{pid} is serving this socket (it holds {}); \
                         choose another path or wait for it to end",
                        path.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let id = file_id(&meta);
        if fs::symlink_metadata(&path).is_ok_and(|m| file_id(&m) == id) {
            return Ok(SocketLock { path, id, _handle: handle });
        }
        // The previous holder removed the file between our open and our lock: try again.
    }
    Err(output(&path, "the lock file keeps being replaced; is another process removing it?"))
}

/// Bind the destination `to` (`-`, `unix:PATH` or `tcp:HOST:PORT`). Nothing is accepted
/// yet: call [`StreamTarget::accept`].
///
/// # Errors
/// [`ErrorKind::Config`](crate::ErrorKind::Config) for a malformed `to` or a non-loopback
/// host without `allow_remote`; [`ErrorKind::Io`](crate::ErrorKind::Io) when binding fails;
/// [`ErrorKind::Output`](crate::ErrorKind::Output) when another run holds `PATH.lock`, or
/// `PATH` exists and is not a socket whose connection is refused.
pub fn open_stream(to: &str, allow_remote: bool) -> Result<StreamTarget> {
    let target = |kind, description| StreamTarget { kind, description, send_timeout: None };
    if to == "-" {
        return Ok(target(Kind::Stdout, "-".into()));
    }
    if let Some(path) = to.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(Error::config("to", "unix: needs a socket path"));
        }
        let (listener, file) = bind_private_unix(Path::new(path))?;
        return Ok(target(Kind::Unix { listener, file }, to.to_string()));
    }
    if let Some(hostport) = to.strip_prefix("tcp:") {
        let addrs: Vec<SocketAddr> = hostport
            .to_socket_addrs()
            .map_err(|e| Error::config("to", format!("'{hostport}' is not HOST:PORT: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(Error::config("to", format!("'{hostport}' resolves to no address")));
        }
        if !allow_remote {
            if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                return Err(Error::config(
                    "to",
                    format!(
                        "refusing to listen on non-loopback address {a}: the stream is \
                         unauthenticated and unencrypted; allow remote clients explicitly to do so"
                    ),
                ));
            }
        }
        let listener = TcpListener::bind(&addrs[..]).map_err(|e| Error::io(to, e))?;
        let bound = listener.local_addr().map_err(|e| Error::io(to, e))?;
        return Ok(target(Kind::Tcp { listener }, format!("tcp:{bound}")));
    }
    Err(Error::config("to", format!("'{to}' is not '-', 'unix:PATH' or 'tcp:HOST:PORT'")))
}

/// Whether a failed connection to a socket file means nobody listens there. Only a refused
/// connection does; a permission error, a full backlog (`EAGAIN`) or anything else may
/// well be a live listener.
fn is_stale(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
}

/// Claim `path` (under its lock) and bind a Unix socket there with mode 0600, never
/// reachable with other permissions and never replacing a file; see the [module docs](self).
fn bind_private_unix(path: &Path) -> Result<(UnixListener, SocketFile)> {
    let lock = claim_lock(path)?;
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Err(e) if is_stale(&e) => {
                let same = fs::symlink_metadata(path).is_ok_and(|m| file_id(&m) == file_id(&meta));
                if same {
                    fs::remove_file(path).map_err(|e| Error::io(path, e))?;
                }
            }
            Err(e) => {
                return Err(output(
                    path,
                    format!(
                    "is a socket that may be in use (connecting to it failed: {e}); remove it or choose another path"
                ),
                ))
            }
            Ok(_) => return Err(output(path, "is a socket another process is listening on; choose another path")),
        },
        Ok(_) => {
            return Err(output(path, "already exists (and is not a socket); remove it or choose another path"));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A fresh directory: mkdir fails on anything already there (a symbolic link included).
    let mut private = None;
    for _ in 0..ATTEMPTS {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir =
            parent.join(format!(".smx{}-{}-{nanos:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                private = Some(dir);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    let private =
        private.ok_or_else(|| output(&parent, "could not create a fresh private directory to bind the socket in"))?;
    let tmp = private.join("s");
    let result = (|| -> Result<(UnixListener, FileId)> {
        let listener = UnixListener::bind(&tmp).map_err(|e| Error::io(&tmp, e))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(|e| Error::io(&tmp, e))?;
        let id = fs::symlink_metadata(&tmp).map(|m| file_id(&m)).map_err(|e| Error::io(&tmp, e))?;
        // link(2), unlike rename(2), never replaces what is at `path`.
        fs::hard_link(&tmp, path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                output(path, "was created by another process while this run was binding; not replaced")
            }
            _ => Error::io(path, e),
        })?;
        Ok((listener, id))
    })();
    let _ = fs::remove_file(&tmp);
    let _ = fs::remove_dir(&private);
    let (listener, id) = result?;
    Ok((listener, SocketFile { path: path.to_path_buf(), id, _lock: lock }))
}

impl StreamTarget {
    /// Bound every write to the reader: a write that makes no progress for `timeout` fails
    /// (see [`open_stream`]). `None` (the default) waits forever. Applies to socket
    /// targets and to standard output when it is a pipe; a zero timeout is taken as `None`.
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.send_timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// The bound TCP address (useful with port 0), `None` for other targets.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.kind {
            Kind::Tcp { listener } => listener.local_addr().ok(),
            _ => None,
        }
    }

    /// The Unix socket path, `None` for other targets.
    pub fn socket_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Unix { file, .. } => Some(&file.path),
            _ => None,
        }
    }

    /// `-`, `unix:PATH` or `tcp:IP:PORT` (with the bound port), for messages and errors.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Wait for one client (at most `timeout`, forever with `None` or a timeout too large to
    /// represent) and return a buffered writer to it. For `-`, returns standard output at
    /// once. A Unix socket file is removed when the returned writer is dropped.
    ///
    /// # Errors
    /// [`ErrorKind::AcceptTimeout`](crate::ErrorKind::AcceptTimeout) when no client
    /// connected in time;
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when accepting fails.
    pub fn accept(self, timeout: Option<Duration>) -> Result<Box<dyn Write + Send>> {
        let desc = self.description;
        let send = self.send_timeout;
        match self.kind {
            Kind::Stdout => {
                let fd = io::stdout().as_fd().try_clone_to_owned().map_err(|e| Error::io("-", e))?;
                let file = File::from(fd);
                match send
                    .map(|t| nonblocking_pipe(&file).map(|p| (p, t)))
                    .transpose()
                    .map_err(|e| Error::io("-", e))?
                {
                    Some((Some(pipe), t)) => Ok(connection(PollPipe { file: pipe, timeout: t }, Some(t), None)),
                    _ => Ok(connection(file, None, None)),
                }
            }
            Kind::Tcp { listener } => {
                let stream: TcpStream =
                    accept_with(&desc, timeout, || listener.accept(), |on| listener.set_nonblocking(on))?;
                stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.set_nodelay(true))
                    .and_then(|()| stream.set_write_timeout(send))
                    .map_err(|e| Error::io(&desc, e))?;
                Ok(connection(stream, send, None))
            }
            Kind::Unix { listener, file } => {
                let stream: UnixStream =
                    accept_with(&desc, timeout, || listener.accept(), |on| listener.set_nonblocking(on))?;
                stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.set_write_timeout(send))
                    .map_err(|e| Error::io(&desc, e))?;
                Ok(connection(stream, send, Some(file)))
            }
        }
    }
}

/// Accept one connection, polling until `timeout` when one is given.
fn accept_with<S, A>(
    desc: &str,
    timeout: Option<Duration>,
    mut accept: impl FnMut() -> io::Result<(S, A)>,
    set_nonblocking: impl Fn(bool) -> io::Result<()>,
) -> Result<S> {
    // A timeout too large for the clock (`--accept-timeout` near u64::MAX) is no timeout.
    let Some((timeout, deadline)) = timeout.and_then(|t| Instant::now().checked_add(t).map(|d| (t, d))) else {
        loop {
            match accept() {
                Ok((s, _)) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(desc, e)),
            }
        }
    };
    set_nonblocking(true).map_err(|e| Error::io(desc, e))?;
    loop {
        match accept() {
            Ok((s, _)) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(ErrorKind::AcceptTimeout { target: desc.to_string(), waited: timeout }.into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(desc, e)),
        }
    }
}

/// Where the bytes go: a socket, a pipe or a file; `abandon` gives up on the reader.
trait Endpoint: Write + Send + 'static {
    /// Called once after a send timeout: shut a socket down so that the reader sees the end.
    fn abandon(&self) {}
}

impl Endpoint for TcpStream {
    fn abandon(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl Endpoint for UnixStream {
    fn abandon(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl Endpoint for File {}

/// A new, non-blocking open file description of the pipe `stdout` (through
/// `/proc/self/fd`), so that setting `O_NONBLOCK` does not change the descriptor the
/// other processes on that pipe share. `None` when `stdout` is not a pipe (a file or a
/// terminal does not stall on a reader) or cannot be reopened.
fn nonblocking_pipe(stdout: &File) -> io::Result<Option<File>> {
    if !stdout.metadata()?.file_type().is_fifo() {
        return Ok(None);
    }
    let reopened = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", stdout.as_raw_fd()));
    Ok(reopened.ok())
}

/// A non-blocking pipe written with `poll(2)`: a write that makes no progress for `timeout`
/// fails with `WouldBlock`.
struct PollPipe {
    file: File,
    timeout: Duration,
}

impl Write for PollPipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let deadline = Instant::now().checked_add(self.timeout);
        loop {
            match self.file.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
            let mut fds = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
            // SAFETY: `fds` is one valid pollfd for the duration of the call.
            let r = unsafe { libc::poll(&mut fds, 1, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Endpoint for PollPipe {}

/// The buffered writer of an accepted connection.
fn connection<E: Endpoint>(
    endpoint: E,
    send_timeout: Option<Duration>,
    file: Option<SocketFile>,
) -> Box<dyn Write + Send> {
    let sender = Sender { endpoint, send_timeout, abandoned: false };
    Box::new(Connection { inner: BufWriter::with_capacity(BUFFER, sender), _file: file })
}

/// Under the write buffer: turns a send timeout into a [`io::ErrorKind::TimedOut`] error
/// naming it, abandons the reader, and fails every later write at once (so that dropping
/// the buffer does not wait for the reader once more).
struct Sender<E: Endpoint> {
    endpoint: E,
    send_timeout: Option<Duration>,
    abandoned: bool,
}

impl<E: Endpoint> Sender<E> {
    fn timed_out(&self) -> io::Error {
        let secs = self.send_timeout.map_or(0.0, |t| t.as_secs_f64());
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {secs:.1} s (the send timeout); it stopped reading"),
        )
    }
}

impl<E: Endpoint> Write for Sender<E> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abandoned {
            return Err(self.timed_out());
        }
        match self.endpoint.write(buf) {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                self.abandoned = true;
                self.endpoint.abandon();
                Err(self.timed_out())
            }
            r => r,
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.abandoned {
            return Err(self.timed_out());
        }
        self.endpoint.flush()
    }
}

/// An accepted connection; keeps the Unix socket file (and its lock) alive until dropped.
struct Connection<W: Write> {
    inner: BufWriter<W>,
    _file: Option<SocketFile>,
}

impl<W: Write> Write for Connection<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.len() >= DIRECT && self.inner.buffer().is_empty() {
            return self.inner.get_mut().write_all(buf);
        }
        self.inner.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::io::Read;

    #[test]
    fn rejects_bad_targets() {
        for bad in ["", "stdout", "tcp:nohostport", "unix:", "udp:1.2.3.4:5"] {
            let err = open_stream(bad, false).expect_err(bad);
            assert!(matches!(err.kind(), ErrorKind::Config { name, .. } if name == "to"), "{bad}: {err:?}");
        }
        // A non-loopback bind is refused before any socket is created.
        let err = open_stream("tcp:0.0.0.0:0", false).unwrap_err();
        assert!(err.to_string().contains("non-loopback"), "{err}");
    }

    #[test]
    fn unix_socket_is_private_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let target = open_stream(&format!("unix:{}", path.display()), false).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Only the socket and its lock file are in the directory (the private bind dir is gone).
        let mut names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["s.sock", "s.sock.lock"]);
        let p2 = path.clone();
        let reader = std::thread::spawn(move || {
            let mut s = UnixStream::connect(&p2).unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            v
        });
        let mut w = target.accept(Some(Duration::from_secs(10))).unwrap();
        w.write_all(b"abc").unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(reader.join().unwrap(), b"abc");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "socket and lock file removed");
    }

    #[test]
    fn a_held_socket_lock_refuses_a_second_target_without_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let to = format!("unix:{}", dir.path().join("s.sock").display());
        let first = open_stream(&to, false).unwrap();
        let err = open_stream(&to, false).unwrap_err();
        assert!(err.to_string().contains("another shardmix run"), "{err}");
        if cfg!(target_os = "linux") && Path::new("/proc/locks").exists() {
            assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
        }
        // The first target's listener saw no connection (the probe never ran).
        if let Kind::Unix { listener, .. } = &first.kind {
            listener.set_nonblocking(true).unwrap();
            assert_eq!(listener.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        }
        drop(first);
        drop(open_stream(&to, false).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn only_a_refused_connection_is_stale() {
        assert!(is_stale(&io::Error::from(io::ErrorKind::ConnectionRefused)));
        for kind in [io::ErrorKind::PermissionDenied, io::ErrorKind::WouldBlock, io::ErrorKind::TimedOut] {
            assert!(!is_stale(&io::Error::from(kind)), "{kind:?}");
        }
    }

    #[test]
    fn socket_files_replaced_by_others_are_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let target = open_stream(&format!("unix:{}", path.display()), false).unwrap();
        // Someone replaces the socket (and the lock file) with their own files.
        fs::remove_file(&path).unwrap();
        fs::write(&path, b"theirs").unwrap();
        fs::remove_file(lock_path(&path)).unwrap();
        fs::write(lock_path(&path), b"theirs").unwrap();
        drop(target);
        assert_eq!(fs::read(&path).unwrap(), b"theirs");
        assert_eq!(fs::read(lock_path(&path)).unwrap(), b"theirs");
    }

    #[test]
    fn existing_file_is_not_replaced_but_stale_socket_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"keep").unwrap();
        let err = open_stream(&format!("unix:{}", path.display()), false).expect_err("refused");
        assert!(matches!(err.kind(), ErrorKind::Output { path: p, .. } if *p == path), "{err:?}");
        assert_eq!(fs::read(&path).unwrap(), b"keep");
        let sock = dir.path().join("stale.sock");
        drop(UnixListener::bind(&sock).unwrap()); // leaves a socket file nobody listens on
        assert!(sock.exists());
        let t = open_stream(&format!("unix:{}", sock.display()), false).unwrap();
        drop(t);
        assert!(!sock.exists());
    }

    #[test]
    fn accept_times_out() {
        let t = open_stream("tcp:127.0.0.1:0", false).unwrap();
        assert!(t.description().starts_with("tcp:127.0.0.1:"));
        let desc = t.description().to_string();
        let err = t.accept(Some(Duration::from_millis(50))).err().unwrap();
        assert!(
            matches!(err.kind(), ErrorKind::AcceptTimeout { target, waited }
                if *target == desc && *waited == Duration::from_millis(50)),
            "{err:?}"
        );
        assert!(err.to_string().contains("no client connected within"), "{err}");
    }
}
