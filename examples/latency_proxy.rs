//! A TCP proxy on loopback that delays every HTTP/1.1 request by a fixed latency before
//! forwarding it: the "store far away" of `benches/peers/object_store.sh`, fast enough not to be
//! the bottleneck (a thread pair per connection, the answers copied back without parsing).
//!
//! ```sh
//! cargo run --release --example latency_proxy -- UPSTREAM_PORT LATENCY_MS
//! ```
//!
//! Listens on a free port of 127.0.0.1 and prints `READY <port>` on stdout; serves until stdin
//! closes or the process is killed. Each request's head (and its `Content-Length` body) is read
//! whole, then held `LATENCY_MS` after its head arrived, then forwarded: a client with several
//! connections sees the latency on each request, in parallel, as from a distant store. A request
//! with a chunked body ends the delays on its connection (its bytes are forwarded as they come).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, latency] = args.as_slice() else {
        return Err("usage: latency_proxy UPSTREAM_PORT LATENCY_MS".into());
    };
    let upstream: u16 = port.parse()?;
    let latency = Duration::from_secs_f64(latency.parse::<f64>()? / 1000.0);
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
        thread::spawn(move || {
            if let Err(e) = serve(client, upstream, latency) {
                if e.kind() != io::ErrorKind::BrokenPipe && e.kind() != io::ErrorKind::ConnectionReset {
                    eprintln!("latency_proxy: {e}");
                }
            }
        });
    }
    Ok(())
}

/// One client connection: requests upstream with their delay, answers back as they come.
fn serve(client: TcpStream, upstream: u16, latency: Duration) -> io::Result<()> {
    let server = TcpStream::connect(("127.0.0.1", upstream))?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (down_from, mut down_to) = (server.try_clone()?, client.try_clone()?);
    let answers = thread::spawn(move || {
        // Through a large buffer: one system call per 256 KiB rather than per 8 KiB (the
        // proxy's CPU shares the cores with the client and the server it measures).
        let _ = io::copy(&mut BufReader::with_capacity(256 << 10, down_from), &mut down_to);
        let _ = down_to.shutdown(Shutdown::Write);
    });
    let result = forward_requests(BufReader::with_capacity(64 << 10, client), server.try_clone()?, latency);
    let _ = server.shutdown(Shutdown::Write);
    let _ = answers.join();
    result
}

/// Read requests from `from`, each forwarded to `to` `latency` after its head arrived.
fn forward_requests(mut from: BufReader<TcpStream>, mut to: TcpStream, latency: Duration) -> io::Result<()> {
    let mut head = Vec::new();
    loop {
        head.clear();
        // The head: lines up to the empty one.
        let mut arrived = None;
        loop {
            let n = from.read_until(b'\n', &mut head)?;
            if n == 0 {
                return Ok(()); // the client closed the connection
            }
            arrived.get_or_insert_with(Instant::now);
            if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
                break;
            }
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let header = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(str::trim))
        };
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let body_len: u64 = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if let Some(wait) = arrived.and_then(|t| latency.checked_sub(t.elapsed())) {
            thread::sleep(wait);
        }
        to.write_all(&head)?;
        if chunked {
            io::copy(&mut from, &mut to)?;
            return Ok(());
        }
        io::copy(&mut (&mut from).take(body_len), &mut to)?;
    }
}
