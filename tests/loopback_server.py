"""An HTTP server on 127.0.0.1 for the download tests: serves files from a dict, honours
`Range: bytes=N-`, records every request, and can cut a response off half-way, send it one byte
at a time, or answer as the Hugging Face hub's resolve endpoint does (X-Repo-Commit, ETag,
X-Error-Code on a missing file)."""

import contextlib
import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_once: set[str] = field(default_factory=set)  # paths whose next GET stops half-way
    trickle: dict[str, float] = field(default_factory=dict)  # path -> seconds between bytes
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location of a 302
    stop: threading.Event = field(default_factory=threading.Event)  # ends trickling answers
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    url: str = ""

    def count(self, path: str) -> int:
        return sum(1 for _, p, _ in self.requests if p == path)


def _handler(served: Served):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self._answer(body=False)

        def do_GET(self):
            self._answer(body=True)

        def _answer(self, *, body: bool):
            path = self.path.split("?")[0]
            served.requests.append((self.command, path, self.headers.get("Range")))
            if path in served.redirects:
                self.send_response(302)
                self.send_header("Location", served.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = served.files.get(path)
            if data is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            if self.headers.get("Range"):
                start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.end_headers()
            if not body:
                return
            if path in served.cut_once and self.command == "GET":
                served.cut_once.discard(path)
                self.wfile.write(data[start : start + (len(data) - start) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if path in served.trickle:
                for offset in range(start, len(data)):
                    if served.stop.wait(served.trickle[path]):
                        return
                    self.wfile.write(data[offset : offset + 1])
                    self.wfile.flush()
                return
            self.wfile.write(data[start:])

    return Handler


@contextlib.contextmanager
def serving(files: dict[str, bytes] | None = None) -> Iterator[Served]:
    served = Served(files=dict(files or {}))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.stop.set()
        server.shutdown()
        server.server_close()
