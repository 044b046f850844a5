//! examples/range_server.rs (the lean S3-subset / HTTP range server) as a child process of a
//! test binary, for the object-store tests that need no venv (`object_store_http`,
//! `object_cache`).
//!
//! A test binary using it includes the server's source and declares the child entry:
//!
//! ```ignore
//! #[allow(dead_code)] // its `main`: the server runs through `run`
//! #[path = "../examples/range_server.rs"]
//! mod range_server;
//!
//! #[test]
//! fn range_server_child() {
//!     common::range_server::serve_if_child(range_server::run);
//! }
//! ```
//!
//! [`RangeServer::start`] runs the test binary again with only that entry selected and
//! [`CHILD_ENV`] set; it then serves until its stdin closes. (An example binary is not built by
//! `cargo test --test NAME`, and building it from a test recompiles the crate's dependencies
//! under cargo's test environment.)

use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The environment variable that makes the child entry the server: its arguments, separated
/// by newlines.
pub const CHILD_ENV: &str = "SHARDMIX_TEST_RANGE_SERVER_ARGS";

/// The body of the `range_server_child` entry: serve with `run` when this process is the
/// server (else return at once: in a normal run the entry is a trivial test).
pub fn serve_if_child<E: Display>(run: impl FnOnce(Vec<String>) -> Result<(), E>) {
    let Ok(args) = std::env::var(CHILD_ENV) else { return };
    if let Err(e) = run(args.lines().map(str::to_string).collect()) {
        panic!("range_server: {e}");
    }
}

/// examples/range_server.rs in a child process serving a directory, killed on drop.
pub struct RangeServer {
    child: Child,
    pub port: u16,
}

impl RangeServer {
    /// Serve `root`, with the server's extra `args` (`--replace-on-data-read PATH FILE`).
    pub fn start(root: &Path, args: &[&Path]) -> RangeServer {
        let mut server_args = vec![root.to_str().expect("a UTF-8 temporary path").to_string()];
        server_args.extend(args.iter().map(|a| a.to_str().expect("UTF-8 arguments").to_string()));
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .args(["--exact", "range_server_child", "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, server_args.join("\n"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start examples/range_server.rs");
        // The test harness prints its own words first.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut said = String::new();
        let port = loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                panic!("range_server stopped before it was ready: {said:?}");
            }
            // "test range_server_child ... READY <port>": the harness's line is not ended.
            if let Some(port) = line.split("READY ").nth(1).and_then(|p| p.trim().parse().ok()) {
                break port;
            }
            said.push_str(&line);
        };
        RangeServer { child, port }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// (requests served, body bytes sent) so far, its `/__stats` excluded, fetched with a raw
    /// HTTP/1.1 GET.
    pub fn stats(&self) -> (u64, u64) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.write_all(b"GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        // The server keeps the connection open: read up to the JSON's closing brace.
        let mut buf = [0u8; 512];
        while !text.ends_with('}') {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "/__stats: {text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let field = |name: &str| -> u64 {
            let after = text.split(&format!("\"{name}\": ")).nth(1).unwrap_or_else(|| panic!("/__stats: {text}"));
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap_or_else(|_| panic!("/__stats: {text}"))
        };
        (field("requests"), field("body_bytes"))
    }

    /// The CLI pointed at this server as an S3 endpoint (path-style: bucket = top directory),
    /// every other `AWS_*` variable of the environment removed.
    pub fn cli(&self) -> Command {
        super::s3_cli(&format!("http://127.0.0.1:{}", self.port), "20")
    }
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `o`, after checking that its command succeeded (else its stderr in the panic).
pub fn ok(o: &Output) -> &Output {
    assert!(o.status.success(), "exit {:?}: {}", o.status, String::from_utf8_lossy(&o.stderr));
    o
}

/// `stream --to -` of `data` (2 workers, shuffled, Mixup, one epoch): the Arrow IPC bytes.
pub fn stream_args(data: &str) -> Vec<String> {
    ["stream", "--data", data, "--label", "label", "--num-classes", "4", "--batch-size", "128", "--order", "shuffled"]
        .iter()
        .chain(&["--seed", "7", "--epochs", "1", "--workers", "2", "--mixup-alpha", "0.2", "--to", "-", "--quiet"])
        .map(|s| s.to_string())
        .collect()
}
