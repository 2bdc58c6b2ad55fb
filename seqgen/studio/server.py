"""The studio's web server: the standard library's ThreadingHTTPServer on 127.0.0.1 only, serving the page and its
script from the package (no CDN), the catalogue and generation as JSON, and each song's MIDI and WAV files.

Requests whose Host header is not this server's own loopback address are refused (DNS rebinding), and so are
bodies over MAX_BODY bytes."""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from seqgen.errors import SeqgenError
from seqgen.runtime import log
from seqgen.studio.engine import MAX_UPLOAD, Studio

HOST = "127.0.0.1"
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 2 * MAX_UPLOAD  # base64 adds a third, plus the other fields
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".mid": "audio/midi", ".wav": "audio/wav"}  # fmt: skip


class StudioHandler(BaseHTTPRequestHandler):
    """GET /, /static/NAME, /api/catalogue, /files/ID/song.mid|song.wav; POST /api/generate (JSON in and out)."""

    server: StudioServer
    protocol_version = "HTTP/1.1"

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        if self.headers.get("Host") in (f"{HOST}:{port}", f"localhost:{port}"):
            return True
        self._send_json({"error": "this studio answers on its loopback address only"}, HTTPStatus.FORBIDDEN)
        return False

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        if path == "/":
            self._send_file(STATIC / "index.html")
        elif path.startswith("/static/") and path[8:] in {p.name for p in STATIC.iterdir()}:
            self._send_file(STATIC / path[8:])
        elif path == "/api/catalogue":
            self._send_json(self.server.studio.catalogue())
        elif path.startswith("/files/") and path.count("/") == 3:
            _, _, song, name = path.split("/")
            found = self.server.studio.song_file(song, name)
            if found is None:
                self._send_json({"error": f"{path}: no such song file"}, HTTPStatus.NOT_FOUND)
            else:
                self._send_file(found, download=f"seqgen-{song}{found.suffix}" if found.suffix == ".mid" else None)
        else:
            self._send_json({"error": f"{path}: not found"}, HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/api/generate":
            self._send_json({"error": "POST /api/generate only"}, HTTPStatus.NOT_FOUND)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self.close_connection = True
            self._send_json({"error": f"a request of {length:,} bytes (1 to {MAX_BODY:,})"}, HTTPStatus.BAD_REQUEST)
            return
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError as exc:
            self._send_json({"error": f"the request is not JSON ({exc})"}, HTTPStatus.BAD_REQUEST)
            return
        try:
            self._send_json(self.server.studio.generate(request))
        except SeqgenError as exc:  # a refused request or an unreadable primer: one line for the page
            self._send_json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
        except OSError as exc:  # the machine's side (a full disk): one line too, as the CLI says it
            self._send_json({"error": f"{exc.filename or 'studio'}: {exc.strerror or exc}"},
                            HTTPStatus.INTERNAL_SERVER_ERROR)  # fmt: skip

    def _send_json(self, value: dict, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(json.dumps(value).encode(), "application/json", status)

    def _send_file(self, path: Path, download: str | None = None) -> None:
        self._send(path.read_bytes(), TYPES.get(path.suffix, "application/octet-stream"), download=download)

    def _send(self, body: bytes, kind: str, status: HTTPStatus = HTTPStatus.OK, download: str | None = None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if download:
            self.send_header("Content-Disposition", f'attachment; filename="{download}"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        log.debug("studio: " + format, *args)


class StudioServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer on 127.0.0.1 that holds the Studio its handlers use."""

    daemon_threads = True

    def __init__(self, studio: Studio, port: int = 0):
        self.studio = studio
        super().__init__((HOST, port), StudioHandler)

    @property
    def url(self) -> str:
        """Where the page is: http://127.0.0.1:PORT/."""
        return f"http://{HOST}:{self.server_address[1]}/"
