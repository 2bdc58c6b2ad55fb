"""seqgen studio end to end: the server on 127.0.0.1 answers its page, catalogue and songs (and refuses foreign
Host headers, bad JSON and bad settings in one line), and a real headless Chromium, driven over the W3C WebDriver
protocol by chromedriver (plain HTTP with urllib, no client library), clicks Generate and gets a drawn piano-roll,
a playable <audio> WAV and a MIDI download."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from seqgen.studio.engine import Studio
from seqgen.studio.primers import primer_midi
from seqgen.studio.server import StudioServer

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,820"]  # fmt: skip


@pytest.fixture
def studio(tmp_path):
    """A studio server on a free loopback port, serving from a thread."""
    server = StudioServer(Studio(tmp_path / "songs"), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def call(server, method: str, path: str, body: bytes | None = None, host: str | None = None):
    """(status, JSON or bytes) of one request to the studio, with its own Host header unless `host`."""
    connection = http.client.HTTPConnection(*server.server_address, timeout=30)
    headers = {"Host": host} if host else {}
    connection.request(method, path, body=body, headers=headers)
    reply = connection.getresponse()
    data = reply.read()
    connection.close()
    kind = reply.getheader("Content-Type") or ""
    return reply.status, json.loads(data) if kind.startswith("application/json") else data


def test_the_server_answers_on_loopback_and_refuses_in_one_line(studio):
    assert studio.server_address[0] == "127.0.0.1"
    status, page = call(studio, "GET", "/")
    assert status == 200 and b"<canvas" in page and b"<audio" in page
    assert b"http" not in page.replace(b"http-equiv", b"")  # nothing from elsewhere: no CDN, no fonts
    status, script = call(studio, "GET", "/static/studio.js")
    assert status == 200 and b"https://" not in script and b"http://" not in script
    status, catalogue = call(studio, "GET", "/api/catalogue")
    assert status == 200 and {"bach", "jsb"} <= {m["name"] for m in catalogue["models"]}
    assert {"cadence", "ode", "arpeggio"} == {p["name"] for p in catalogue["primers"]}
    assert call(studio, "GET", "/api/catalogue", host="evil.example:80")[0] == 403  # DNS rebinding
    assert call(studio, "GET", "/static/../engine.py")[0] == 404
    assert call(studio, "GET", "/files/1/../../x")[0] == 404
    for body, said in [(b"{", "the request is not JSON"), (b'{"model": "zzz"}', "model 'zzz': not a shipped model"),
                       (b'{"temperature": 0}', "temperature 0: expected a number from 0.05 to 5"),
                       (b'{"primer": "x"}', "primer 'x': not one of cadence, ode, arpeggio"),
                       (b'{"upload": "bm90IG1pZGk=", "upload_name": "mine.mid"}', "mine.mid")]:  # fmt: skip
        status, reply = call(studio, "POST", "/api/generate", body)
        assert status == 400 and reply["error"].startswith(said) and "\n" not in reply["error"], reply


def test_a_song_continues_its_primer_and_comes_as_midi_and_wav(studio):
    request = {"model": "bach", "primer": "cadence", "temperature": 0.9, "seconds": 8, "seed": 4}
    status, song = call(studio, "POST", "/api/generate", json.dumps(request).encode())
    assert status == 200, song
    assert song["primer_frames"] == 16 and song["frames"] > song["primer_frames"]  # 2 bars of eighths
    assert {(48, 0, 4), (72, 0, 8), (71, 8, 12)} <= {tuple(n) for n in song["notes"]}  # the cadence (C5 held)
    assert any(start >= 16 for _, start, _ in song["notes"])  # and the model's notes after it
    status, midi = call(studio, "GET", song["midi"])
    assert status == 200 and midi[:4] == b"MThd"
    status, wav = call(studio, "GET", song["wav"])
    assert status == 200 and wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    again = call(studio, "POST", "/api/generate", json.dumps(request).encode())[1]
    assert again["notes"] == song["notes"] and again["id"] != song["id"]  # the same seed, the same song


class WebDriver:
    """The few W3C WebDriver commands the test needs, sent to chromedriver as JSON over HTTP."""

    def __init__(self, port: int, profile: Path):
        self.base = f"http://127.0.0.1:{port}"
        options = {"binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}"]}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = self.send("POST", "/session", caps)["sessionId"]

    def send(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())["value"]

    def command(self, method: str, path: str, body: dict | None = None):
        return self.send(method, f"/session/{self.session}{path}", body)

    def script(self, source: str):
        return self.command("POST", "/execute/sync", {"script": source, "args": []})

    def wait_for(self, source: str, timeout: float = 15.0):
        """The script's value once it is truthy, polling every 0.1 s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.script(source)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"not within {timeout} s: {source}")

    def click(self, css: str) -> None:
        element = self.command("POST", "/element", {"using": "css selector", "value": css})
        self.command("POST", f"/element/{next(iter(element.values()))}/click", {})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium under chromedriver (skipped only where they are not installed)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (Debian: chromium, chromium-driver)")
    port = free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as reply:
                    if json.loads(reply.read())["value"]["ready"]:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        web = WebDriver(port, tmp_path / "profile")
        yield web
        web.command("DELETE", "")
    finally:
        driver.terminate()
        driver.wait(timeout=10)


def test_clicking_generate_draws_the_roll_and_plays_the_song(studio, browser, tmp_path):
    browser.command("POST", "/url", {"url": studio.url})
    assert browser.wait_for("return document.getElementById('model').options.length") >= 2
    (tmp_path / "ode.mid").write_bytes(primer_midi("ode"))  # the user's own file, uploaded through the page
    browser.script("const p = document.getElementById('primer'); p.value = 'upload';"
                   "p.dispatchEvent(new Event('change'));"
                   "document.getElementById('seconds').value = '24';"
                   "document.getElementById('seed').value = '7';")  # fmt: skip
    assert browser.script("return document.getElementById('upload-row').hidden") is False
    upload = browser.command("POST", "/element", {"using": "css selector", "value": "#upload"})
    browser.command("POST", f"/element/{next(iter(upload.values()))}/value", {"text": str(tmp_path / "ode.mid")})
    browser.click("#generate")
    notes = browser.wait_for("return document.getElementById('roll').dataset.notes")
    assert int(notes) > 10
    drawn = browser.script(  # pixels painted in the model's blue and the primer's orange
        "const c = document.getElementById('roll'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let blue = 0, orange = 0; for (let i = 0; i < d.length; i += 4) {"
        "if (d[i] === 0x20 && d[i + 1] === 0x40 && d[i + 2] === 0x8f) blue++;"
        "if (d[i] === 0xbf && d[i + 1] === 0x4f && d[i + 2] === 0x14) orange++; } return [blue, orange];"
    )
    assert drawn[0] > 200 and drawn[1] > 200, drawn
    duration = browser.wait_for(  # the browser fetched and decoded the WAV itself
        "const a = document.getElementById('player'); return a.readyState >= 1 && a.duration;"
    )
    assert 18 < duration < 30  # 24 s on the model's grid, played at the ode's 110 BPM: about 22 s
    assert browser.script("return document.getElementById('listen').hidden") is False
    href = browser.script("return document.getElementById('download').href")
    with urllib.request.urlopen(href, timeout=10) as reply:
        assert reply.read(4) == b"MThd"
    status = browser.script("return document.getElementById('status').textContent")
    assert "(32 from the primer)" in status and "seed 7" in status, status  # 4 bars of eighths: the ode
    shot = base64.b64decode(browser.command("GET", "/screenshot"))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SEQGEN_STUDIO_SCREENSHOT"):  # docs/studio.png is made this way
        Path(os.environ["SEQGEN_STUDIO_SCREENSHOT"]).write_bytes(shot)


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_seqgen_studio_serves_on_loopback_until_ctrl_c(tmp_path, stop):
    import signal
    import sys

    seqgen = [sys.executable, "-c", "from seqgen.cli import main; main()", "studio", "--port", "0"]
    command = ["bash", "-c", 'trap "" INT; exec "$@"', "-", *seqgen]  # SIGINT ignored, as a script's `seqgen studio &`
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith("seqgen studio on http://127.0.0.1:") and "this machine only" in line, line
        url = line.split()[3]
        with urllib.request.urlopen(url + "api/catalogue", timeout=10) as reply:
            assert "bach" in {m["name"] for m in json.loads(reply.read())["models"]}
        server.send_signal(getattr(signal, stop))
        assert server.wait(timeout=60) == 0 and "studio stopped" in server.stdout.read()  # 0.8 s here
    finally:
        server.kill()
        server.wait()


def test_seqgen_studio_refuses_a_bad_soundfont_in_one_line(cli, tmp_path):
    (tmp_path / "fake.sf2").write_bytes(primer_midi("ode"))
    refused = cli("studio", "--soundfont", tmp_path / "fake.sf2")
    assert "fake.sf2: not a SoundFont 2 file (.sf2)" in refused.one_line_error()
