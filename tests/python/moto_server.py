"""A real S3-compatible server on loopback for tests/object_store.rs and
benches/peers/object_store.sh: moto's server mode, optionally behind a fault proxy.

    python moto_server.py serve [--latency-ms MS] [--fail-every K] [--fail-status 503]
                                [--on-data-read exit|hang|replace:BUCKET/KEY:FILE]
        Starts moto (ThreadedMotoServer) on 127.0.0.1 with a free port and, in front of it, a
        proxy on another free port that delays every request by MS milliseconds and answers
        every K-th request with FAIL-STATUS without forwarding it. Prints one line
        `READY <proxy_port> <moto_port>` on stdout, then serves until stdin closes or the
        process is killed. `GET /__proxy/stats` on the proxy answers
        {"requests": N, "injected": N, "data_reads": N} as JSON; `GET /__proxy/latency/MS`
        sets the added latency (and answers the same).
        --on-data-read acts on the first GET with a bounded `Range: bytes=A-B` (a column
        chunk; opening a shard asks for a suffix, `bytes=-N`): `exit` ends the process (moto and
        the proxy: the store is gone), `hang` never answers it nor anything after it,
        `replace:...` uploads FILE over BUCKET/KEY first (the object changes mid-run).

    python moto_server.py put ENDPOINT BUCKET KEY FILE [KEY FILE ...]  # upload (creates BUCKET)
    python moto_server.py delete ENDPOINT BUCKET KEY

Only loopback addresses are used; credentials are moto's dummies.
"""

import http.client
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = 0
    latency = 0.0
    fail_every = 0
    fail_status = 503
    lock = threading.Lock()
    requests = 0
    injected = 0
    data_reads = 0
    on_data_read = None
    hung = False

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.path.startswith("/__proxy/latency/"):
            Proxy.latency = float(self.path.rsplit("/", 1)[1]) / 1000.0
            self.path = "/__proxy/stats"
        if self.path == "/__proxy/stats":
            with Proxy.lock:
                data = json.dumps(
                    {"requests": Proxy.requests, "injected": Proxy.injected, "data_reads": Proxy.data_reads}
                ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        rng = self.headers.get("Range") or ""
        first_data_read = False
        with Proxy.lock:
            Proxy.requests += 1
            fail = Proxy.fail_every > 0 and Proxy.requests % Proxy.fail_every == 0
            if fail:
                Proxy.injected += 1
            if self.command == "GET" and rng.startswith("bytes=") and not rng.startswith("bytes=-"):
                Proxy.data_reads += 1
                first_data_read = Proxy.data_reads == 1
            if first_data_read and Proxy.on_data_read == "hang":
                Proxy.hung = True
            hung = Proxy.hung
        if hung:
            time.sleep(3600)
            return
        if first_data_read and Proxy.on_data_read == "exit":
            os._exit(3)
        if first_data_read and (Proxy.on_data_read or "").startswith("replace:"):
            _, target, path = Proxy.on_data_read.split(":", 2)
            bucket, key = target.split("/", 1)
            put(f"http://127.0.0.1:{Proxy.upstream}", bucket, key, path)
        if Proxy.latency:
            time.sleep(Proxy.latency)
        if fail:
            data = b"<Error><Code>SlowDown</Code><Message>injected by the fault proxy</Message></Error>"
            self.send_response(Proxy.fail_status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        conn = http.client.HTTPConnection("127.0.0.1", Proxy.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(k, v)
        # A HEAD has no body: its Content-Length is the object's, as the server said it.
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(args):
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    latency_ms = float(args[args.index("--latency-ms") + 1]) if "--latency-ms" in args else 0.0
    fail_every = int(args[args.index("--fail-every") + 1]) if "--fail-every" in args else 0
    fail_status = int(args[args.index("--fail-status") + 1]) if "--fail-status" in args else 503
    Proxy.on_data_read = args[args.index("--on-data-read") + 1] if "--on-data-read" in args else None
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    Proxy.upstream = moto_port
    Proxy.latency = latency_ms / 1000.0
    Proxy.fail_every = fail_every
    Proxy.fail_status = fail_status
    proxy = ThreadingServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    print(f"READY {proxy.server_address[1]} {moto_port}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or kills us)
    finally:
        proxy.shutdown()
        moto.stop()


def client(endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def put(endpoint, bucket, *pairs):
    s3 = client(endpoint)
    try:
        s3.create_bucket(Bucket=bucket)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    for key, path in zip(pairs[::2], pairs[1::2]):
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(args)
    elif cmd == "put":
        put(*args)
    elif cmd == "delete":
        client(args[0]).delete_object(Bucket=args[1], Key=args[2])
    else:
        sys.exit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
