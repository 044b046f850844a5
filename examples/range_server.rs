//! A lean HTTP/1.1 file server on loopback that speaks the part of S3 that `object_store`'s S3
//! client uses to read, and plain HTTP with ranges: the test store of
//! `tests/object_store_http.rs` and the cheap server of `benches/peers/object_store.sh` (s3s-fs,
//! the third-party server the bench also runs, reads files in 4 KiB chunks and costs more CPU
//! than the reader it serves). std only.
//!
//! ```sh
//! cargo run --release --example range_server -- ROOT
//! ```
//!
//! Listens on a free port of 127.0.0.1 and prints `READY <port>` on stdout; serves until stdin
//! closes or the process is killed. The URL path `/a/b/c` is the file `ROOT/a/b/c`, so that
//!
//! * as S3 with path-style addressing (`AWS_ENDPOINT_URL=http://127.0.0.1:PORT`), the bucket
//!   `B` is the directory `ROOT/B` and its keys are the paths of the files under it;
//! * as a plain HTTP server, `http://127.0.0.1:PORT/a/b.parquet` is `ROOT/a/b.parquet`.
//!
//! What it answers:
//!
//! * `GET /B?list-type=2[&prefix=P][&delimiter=/][&start-after=K]`: ListObjectsV2 as XML,
//!   every matching key in one page (keys in byte order; with a delimiter, the common prefixes);
//! * `HEAD` and `GET` of a file, with `Range: bytes=A-B`, `bytes=A-` or `bytes=-N` (206 and
//!   `Content-Range`; 416 for a range that starts past the end), `ETag` (from the file's size,
//!   modification time and inode: a replaced file gets a new one), `Last-Modified`, and
//!   `If-Match` (412 when it names another ETag);
//! * 404 for anything else that is not a file, 405 for other methods. Requests are not
//!   authenticated (loopback only).
//!
//! `GET /__stats` answers `{"body_bytes": B, "requests": N}`: the bytes of file bodies sent and
//! the requests served so far, itself excluded.
//!
//! `range_server ROOT --replace-on-data-read PATH FILE` (for tests): before answering the first
//! GET with a bounded range (`bytes=A-B`: a column chunk; opening a shard asks for a suffix),
//! `ROOT/PATH` is replaced by a copy of `FILE` (written beside it, then renamed over it), so
//! that the object changes in the middle of a run.
//! `--rate BYTES_PER_SEC` (for tests): every body is sent at about that rate, a tenth of a second's
//! bytes at a time (a slow store that keeps sending).
//! File bytes go from the file to the socket with `std::io::copy` (`sendfile` on Linux).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The requests served, `/__stats` excluded.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// The bytes of file bodies sent (GET answers), `/__stats` excluded.
static BODY_BYTES: AtomicU64 = AtomicU64::new(0);

/// `--replace-on-data-read`: (the file to replace, its new content), taken by the first data read.
static REPLACE: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);

/// With `--rate`: the most body bytes per second each answer sends (0: no limit).
static RATE: AtomicU64 = AtomicU64::new(0);

/// Copy `from` to `to` at about `rate` bytes per second: a tenth of a second's bytes, then a
/// tenth of a second's pause (a slow store that keeps sending).
fn send_slowly(from: &mut impl Read, to: &mut impl Write, rate: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; usize::try_from(rate / 10).unwrap_or(usize::MAX).clamp(1, 1 << 20)];
    let mut sent = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(sent);
        }
        to.write_all(&buf[..n])?;
        to.flush()?;
        sent += n as u64;
        thread::sleep(Duration::from_millis(100));
    }
}

fn main() -> Result<(), BoxError> {
    run(std::env::args().skip(1).collect())
}

/// The server with the command line's arguments (without the program's name); returns only on a
/// bad command line or a failure to listen. tests/object_store_http.rs runs it in a child
/// process of its own test binary.
pub fn run(args: Vec<String>) -> Result<(), BoxError> {
    const USAGE: &str = "usage: range_server ROOT [--replace-on-data-read PATH FILE] [--rate BYTES_PER_SEC]";
    let (root, mut rest) = args.split_first().ok_or(USAGE)?;
    let mut replace = None;
    while !rest.is_empty() {
        rest = match rest {
            [flag, path, file, more @ ..] if flag == "--replace-on-data-read" => {
                replace = Some((path.clone(), PathBuf::from(file)));
                more
            }
            [flag, rate, more @ ..] if flag == "--rate" => {
                RATE.store(rate.parse().map_err(|_| USAGE)?, Ordering::SeqCst);
                more
            }
            _ => return Err(USAGE.into()),
        };
    }
    let root = Arc::new(std::fs::canonicalize(root)?);
    if let Some((path, file)) = replace {
        let target = local_path(&root, &path).ok_or("--replace-on-data-read: PATH leaves ROOT")?;
        *REPLACE.lock().unwrap_or_else(|p| p.into_inner()) = Some((target, file));
    }
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    println!("READY {}", listener.local_addr()?.port());
    io::stdout().flush()?;
    // Stop when the parent closes our stdin.
    thread::spawn(|| {
        let _ = io::copy(&mut io::stdin(), &mut io::sink());
        std::process::exit(0);
    });
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let root = root.clone();
        thread::spawn(move || {
            if let Err(e) = serve(client, &root) {
                if !matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) {
                    eprintln!("range_server: {e}");
                }
            }
        });
    }
    Ok(())
}

/// One request's head.
struct Request {
    method: String,
    /// The path, percent-decoded.
    path: String,
    /// The query's `(name, value)` pairs, decoded.
    query: Vec<(String, String)>,
    range: Option<String>,
    if_match: Option<String>,
    body_len: u64,
}

/// One answer's status line and headers (the body is written after them).
struct Answer {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
}

/// One connection: requests answered in turn (HTTP/1.1 keep-alive) until the client closes.
fn serve(stream: TcpStream, root: &Path) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut from = BufReader::with_capacity(16 << 10, stream.try_clone()?);
    let mut to = stream;
    while let Some(req) = read_request(&mut from)? {
        // A body (none of the requests served has one) is read and dropped.
        io::copy(&mut (&mut from).take(req.body_len), &mut io::sink())?;
        answer(&req, root, &mut to)?;
    }
    Ok(())
}

/// The next request's head, or `None` when the client closed the connection.
fn read_request(from: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if from.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad request line {line:?}")));
    };
    let (method, target) = (method.to_string(), target.to_string());
    let (mut range, mut if_match, mut body_len) = (None, None, 0);
    loop {
        line.clear();
        if from.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else { continue };
        let value = value.trim().to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "range" => range = Some(value),
            "if-match" => if_match = Some(value),
            "content-length" => body_len = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    Ok(Some(Request { method, path: decode(path, false), query, range, if_match, body_len }))
}

/// Percent-decoding (and `+` as a space in a query).
fn decode(s: &str, query: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if query => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file or directory under `root` that the URL path names, or `None` for a path that
/// leaves it.
fn local_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

fn answer(req: &Request, root: &Path, to: &mut TcpStream) -> io::Result<()> {
    if req.path == "/__stats" {
        let body = format!(
            "{{\"body_bytes\": {}, \"requests\": {}}}",
            BODY_BYTES.load(Ordering::SeqCst),
            REQUESTS.load(Ordering::SeqCst)
        );
        return send(
            to,
            &Answer { status: "200 OK", headers: vec![("Content-Type", "application/json".into())] },
            &body,
            true,
        );
    }
    REQUESTS.fetch_add(1, Ordering::SeqCst);
    let head_only = req.method == "HEAD";
    if req.method != "GET" && !head_only {
        return send(to, &Answer { status: "405 Method Not Allowed", headers: vec![] }, "", true);
    }
    let Some(path) = local_path(root, &req.path) else { return not_found(to, head_only) };
    if req.query.iter().any(|(k, v)| k == "list-type" && v == "2") {
        return match path.is_dir() {
            true => list(req, &path, to),
            false => not_found(to, head_only),
        };
    }
    let bounded = req
        .range
        .as_deref()
        .is_some_and(|r| r.split_once('-').is_some_and(|(a, b)| !a.ends_with('=') && !b.is_empty()));
    if req.method == "GET" && bounded {
        let replace = REPLACE.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((target, file)) = replace {
            let temp = target.with_extension("replacing");
            std::fs::copy(&file, &temp)?;
            std::fs::rename(&temp, &target)?;
        }
    }
    let Ok(file) = File::open(&path) else { return not_found(to, head_only) };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return not_found(to, head_only);
    }
    let len = meta.len();
    let etag = etag_of(&meta);
    let mut headers = vec![
        ("ETag", etag.clone()),
        ("Last-Modified", http_date(meta.modified().unwrap_or(UNIX_EPOCH))),
        ("Accept-Ranges", "bytes".to_string()),
        ("Content-Type", "application/octet-stream".to_string()),
    ];
    if let Some(want) = &req.if_match {
        if want != "*" && want.split(',').all(|t| t.trim() != etag) {
            return send(to, &Answer { status: "412 Precondition Failed", headers }, "", !head_only);
        }
    }
    let (status, range) = match req.range.as_deref().map(|r| parse_range(r, len)) {
        None => ("200 OK", 0..len),
        Some(Some(r)) => {
            headers.push(("Content-Range", format!("bytes {}-{}/{len}", r.start, r.end - 1)));
            ("206 Partial Content", r)
        }
        Some(None) => {
            headers.push(("Content-Range", format!("bytes */{len}")));
            return send(to, &Answer { status: "416 Range Not Satisfiable", headers }, "", !head_only);
        }
    };
    headers.push(("Content-Length", (range.end - range.start).to_string()));
    write_head(to, &Answer { status, headers })?;
    if !head_only {
        let mut file = file;
        io::Seek::seek(&mut file, io::SeekFrom::Start(range.start))?;
        let sent = match RATE.load(Ordering::SeqCst) {
            0 => io::copy(&mut file.take(range.end - range.start), to)?,
            rate => send_slowly(&mut file.take(range.end - range.start), to, rate)?,
        };
        BODY_BYTES.fetch_add(sent, Ordering::SeqCst);
        if sent != range.end - range.start {
            // The file shrank under us: the length promised cannot be kept.
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than its length"));
        }
    }
    to.flush()
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` as a non-empty range within `len`; `None` when it
/// cannot be satisfied (or is not one range of bytes).
fn parse_range(spec: &str, len: u64) -> Option<std::ops::Range<u64>> {
    let (a, b) = spec.trim().strip_prefix("bytes=")?.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        len.saturating_sub(n)..len
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() { len } else { b.parse::<u64>().ok()?.saturating_add(1).min(len) };
        start..end
    };
    (r.start < r.end).then_some(r)
}

fn not_found(to: &mut TcpStream, head_only: bool) -> io::Result<()> {
    let body =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>";
    let answer = Answer { status: "404 Not Found", headers: vec![("Content-Type", "application/xml".into())] };
    send(to, &answer, body, !head_only)
}

/// ListObjectsV2 of the bucket directory `bucket`: every key at once.
fn list(req: &Request, bucket: &Path, to: &mut TcpStream) -> io::Result<()> {
    let arg = |name: &str| req.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let prefix = arg("prefix").unwrap_or("");
    let delimiter = arg("delimiter").filter(|d| !d.is_empty());
    let after = arg("start-after").unwrap_or("");
    let mut files = Vec::new();
    walk(bucket, "", &mut files)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>");
    xml += &format!("<Prefix>{}</Prefix><IsTruncated>false</IsTruncated>", escape(prefix));
    let mut prefixes: Vec<String> = Vec::new();
    let mut count = 0;
    for (key, meta) in files.iter().filter(|(k, _)| k.starts_with(prefix) && k.as_str() > after) {
        if let Some(d) = delimiter {
            if let Some(i) = key[prefix.len()..].find(d) {
                let common = &key[..prefix.len() + i + d.len()];
                if prefixes.last().map(String::as_str) != Some(common) {
                    prefixes.push(common.to_string());
                }
                continue;
            }
        }
        count += 1;
        let etag = etag_of(meta);
        xml += &format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            escape(key),
            iso_date(meta.modified().unwrap_or(UNIX_EPOCH)),
            escape(&etag),
            meta.len()
        );
    }
    for p in &prefixes {
        xml += &format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", escape(p));
    }
    xml += &format!("<KeyCount>{}</KeyCount></ListBucketResult>", count + prefixes.len());
    send(to, &Answer { status: "200 OK", headers: vec![("Content-Type", "application/xml".into())] }, &xml, true)
}

/// Every file under `dir` as (key relative to the bucket, metadata).
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, std::fs::Metadata)>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        // Symbolic links are followed (a bench links its data in); broken ones are skipped.
        let Ok(meta) = std::fs::metadata(entry.path()) else { continue };
        if meta.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else if meta.is_file() {
            out.push((key, meta));
        }
    }
    Ok(())
}

/// A file's ETag: its size, modification time and inode (a file replaced by a rename, or
/// rewritten, gets another).
fn etag_of(meta: &std::fs::Metadata) -> String {
    format!(
        "\"{:x}-{:x}-{:x}\"",
        meta.size(),
        meta.mtime().wrapping_mul(1_000_000_000).wrapping_add(meta.mtime_nsec()),
        meta.ino()
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn write_head(to: &mut TcpStream, answer: &Answer) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {}\r\nServer: shardmix-range-server\r\n", answer.status);
    for (k, v) in &answer.headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    to.write_all(head.as_bytes())
}

/// An answer with a small body (its length always given; the body itself only with `body`).
fn send(to: &mut TcpStream, answer: &Answer, text: &str, body: bool) -> io::Result<()> {
    let mut headers = answer.headers.clone();
    headers.push(("Content-Length", text.len().to_string()));
    write_head(to, &Answer { status: answer.status, headers })?;
    if body {
        to.write_all(text.as_bytes())?;
    }
    to.flush()
}

/// Seconds since the epoch as (year, month, day, hour, minute, second, weekday 0 = Sunday).
fn civil(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, u64) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ((days + 4).rem_euclid(7)) as u64; // 1970-01-01 was a Thursday
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60, weekday)
}

/// An HTTP date: `Mon, 30 Nov 2026 12:00:00 GMT`.
fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, s, wd) = civil(t);
    format!("{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT", DAYS[wd as usize], MONTHS[mo as usize - 1])
}

/// An ISO 8601 date as S3 lists it: `2026-11-30T12:00:00.000Z`.
fn iso_date(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.000Z")
}
