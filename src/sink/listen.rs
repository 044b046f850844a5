//! Where an IPC stream goes: standard output, a Unix socket, or a TCP port, each waiting
//! for one reader.
//!
//! * `-`: standard output (written through its file descriptor, bypassing Rust's line
//!   buffering);
//! * `unix:PATH`: a Unix socket created with mode 0600 — it is bound inside a fresh private
//!   (0700) directory, chmod-ed, then renamed to `PATH`, so no other user can connect in
//!   between; the socket file is removed when the connection (or the unaccepted target)
//!   is dropped. A stale socket file nobody listens on is replaced; anything else at `PATH`
//!   is an error;
//! * `tcp:HOST:PORT`: a TCP listener; a non-loopback `HOST` is refused unless `allow_remote`
//!   (the stream is unauthenticated and unencrypted). Port 0 picks a free port, reported
//!   by [`StreamTarget::local_addr`].

use std::fs;
use std::io::{self, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::manifest::output;
use crate::error::{Error, Result};

/// Write buffer of an accepted connection (bytes).
const BUFFER: usize = 1 << 20;

/// A bound stream destination waiting for its reader; see the [module docs](self).
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
}

#[derive(Debug)]
enum Kind {
    Stdout,
    Unix {
        listener: UnixListener,
        file: SocketFile,
    },
    Tcp {
        listener: TcpListener,
    },
}

/// Removes the socket file when dropped.
#[derive(Debug)]
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Bind the destination `to` (`-`, `unix:PATH` or `tcp:HOST:PORT`). Nothing is accepted
/// yet: call [`StreamTarget::accept`].
///
/// # Errors
/// [`ErrorKind::Config`](crate::ErrorKind::Config) for a malformed `to` or a non-loopback
/// host without `allow_remote`; [`ErrorKind::Io`](crate::ErrorKind::Io) when binding fails;
/// [`ErrorKind::Output`](crate::ErrorKind::Output) when `PATH` exists and is not a stale socket.
pub fn open_stream(to: &str, allow_remote: bool) -> Result<StreamTarget> {
    if to == "-" {
        return Ok(StreamTarget {
            kind: Kind::Stdout,
            description: "-".into(),
        });
    }
    if let Some(path) = to.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(Error::config("to", "unix: needs a socket path"));
        }
        let path = PathBuf::from(path);
        let listener = bind_private_unix(&path)?;
        return Ok(StreamTarget {
            kind: Kind::Unix {
                listener,
                file: SocketFile(path),
            },
            description: to.to_string(),
        });
    }
    if let Some(hostport) = to.strip_prefix("tcp:") {
        let addrs: Vec<SocketAddr> = hostport
            .to_socket_addrs()
            .map_err(|e| Error::config("to", format!("'{hostport}' is not HOST:PORT: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(Error::config(
                "to",
                format!("'{hostport}' resolves to no address"),
            ));
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
        return Ok(StreamTarget {
            kind: Kind::Tcp { listener },
            description: format!("tcp:{bound}"),
        });
    }
    Err(Error::config(
        "to",
        format!("'{to}' is not '-', 'unix:PATH' or 'tcp:HOST:PORT'"),
    ))
}

/// Bind a Unix socket at `path` with mode 0600, never reachable with other permissions.
fn bind_private_unix(path: &Path) -> Result<UnixListener> {
    match fs::symlink_metadata(path) {
        Ok(meta) => {
            let stale = meta.file_type().is_socket() && UnixStream::connect(path).is_err();
            if !stale {
                return Err(output(
                    path,
                    "already exists (and is not a stale socket); remove it or choose another path",
                ));
            }
            fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(path, e)),
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let private = parent.join(format!(
        ".smx{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| Error::io(&private, e))?;
    let tmp = private.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&tmp).map_err(|e| Error::io(&tmp, e))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(listener)
    })();
    let _ = fs::remove_file(&tmp);
    let _ = fs::remove_dir(&private);
    result
}

impl StreamTarget {
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
            Kind::Unix { file, .. } => Some(&file.0),
            _ => None,
        }
    }

    /// `-`, `unix:PATH` or `tcp:IP:PORT` (with the bound port), for messages and errors.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Wait for one client (at most `timeout`, forever with `None`) and return a buffered
    /// writer to it. For `-`, returns standard output at once. A Unix socket file is removed
    /// when the returned writer is dropped.
    ///
    /// # Errors
    /// [`ErrorKind::Output`](crate::ErrorKind::Output) when no client connected in time;
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when accepting fails.
    pub fn accept(self, timeout: Option<Duration>) -> Result<Box<dyn Write + Send>> {
        let desc = self.description;
        match self.kind {
            Kind::Stdout => {
                use std::os::fd::AsFd;
                let fd = io::stdout()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| Error::io("-", e))?;
                let fd = fs::File::from(fd);
                Ok(Box::new(BufWriter::with_capacity(BUFFER, fd)))
            }
            Kind::Tcp { listener } => {
                let stream: TcpStream = accept_with(
                    &desc,
                    timeout,
                    || listener.accept(),
                    |on| listener.set_nonblocking(on),
                )?;
                stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.set_nodelay(true))
                    .map_err(|e| Error::io(&desc, e))?;
                Ok(Box::new(Connection {
                    inner: BufWriter::with_capacity(BUFFER, stream),
                    _file: None,
                }))
            }
            Kind::Unix { listener, file } => {
                let stream: UnixStream = accept_with(
                    &desc,
                    timeout,
                    || listener.accept(),
                    |on| listener.set_nonblocking(on),
                )?;
                stream
                    .set_nonblocking(false)
                    .map_err(|e| Error::io(&desc, e))?;
                Ok(Box::new(Connection {
                    inner: BufWriter::with_capacity(BUFFER, stream),
                    _file: Some(file),
                }))
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
    let Some(timeout) = timeout else {
        return accept().map(|(s, _)| s).map_err(|e| Error::io(desc, e));
    };
    set_nonblocking(true).map_err(|e| Error::io(desc, e))?;
    let deadline = Instant::now() + timeout;
    loop {
        match accept() {
            Ok((s, _)) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(output(
                        desc,
                        format!("no client connected within {:.1} s", timeout.as_secs_f64()),
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(desc, e)),
        }
    }
}

/// An accepted connection; keeps the Unix socket file alive until dropped.
struct Connection<S: Write> {
    inner: BufWriter<S>,
    _file: Option<SocketFile>,
}

impl<S: Write> Write for Connection<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn rejects_bad_targets() {
        for bad in ["", "stdout", "tcp:nohostport", "unix:", "udp:1.2.3.4:5"] {
            assert!(open_stream(bad, false).is_err(), "{bad}");
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
        // Only the socket remains in the directory (the private bind dir is gone).
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
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
        assert!(!path.exists());
    }

    #[test]
    fn existing_file_is_not_replaced_but_stale_socket_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"keep").unwrap();
        assert!(open_stream(&format!("unix:{}", path.display()), false).is_err());
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
        let err = t.accept(Some(Duration::from_millis(50))).err().unwrap();
        assert!(err.to_string().contains("no client connected"), "{err}");
    }
}
