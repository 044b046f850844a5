"""Upload files to fake-gcs-server (Google Cloud Storage's emulator) for tests/object_store_gcs.rs:

    python gcs_put.py BASE_URL BUCKET NAME FILE [NAME FILE ...]

BASE_URL is e.g. http://127.0.0.1:4443. Speaks the emulator's JSON API (the one Google's own
client libraries use, not the XML API object_store reads with): the bucket is created if needed
(`POST /storage/v1/b`), each object is a media upload (`POST /upload/storage/v1/b/BUCKET/o`).
An empty FILE argument ("") uploads an empty object (a `_SUCCESS` marker). Standard library only.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request


def request(method, url, body, content_type):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    base, bucket, pairs = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3:]
    status, body = request("POST", f"{base}/storage/v1/b", json.dumps({"name": bucket}).encode(), "application/json")
    if status not in (200, 409):  # 409: it exists already
        sys.exit(f"creating bucket {bucket}: HTTP {status}: {body[:300]!r}")
    for name, path in zip(pairs[::2], pairs[1::2]):
        data = open(path, "rb").read() if path else b""
        query = urllib.parse.urlencode({"uploadType": "media", "name": name})
        url = f"{base}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{query}"
        status, body = request("POST", url, data, "application/octet-stream")
        if status != 200:
            sys.exit(f"uploading {name}: HTTP {status}: {body[:300]!r}")
        size = int(json.loads(body)["size"])
        if size != len(data):
            sys.exit(f"uploading {name}: the emulator stored {size} bytes of {len(data)}")


if __name__ == "__main__":
    main()
