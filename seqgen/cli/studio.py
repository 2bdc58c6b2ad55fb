"""`seqgen studio`: a page in the browser to generate, see, hear and download songs from the shipped models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqgen.cli.options import _flag, _o, command

STUDIO = [
    _o("port", int, 8765, "Port on 127.0.0.1 (the studio never listens beyond this machine); 0 picks a free one.",
       min=0, max=65535),
    _o("soundfont", Path | None, None, "SoundFont (.sf2) for the audio. Default: as seqgen sample --wav "
       "($SEQGEN_SOUNDFONT, then the system's General MIDI soundfont)."),
    _flag("open_browser", "Also open the page in the default web browser.", "--open"),
]


@command(STUDIO)
def studio(options: dict[str, Any]) -> None:
    """Serve the studio on http://127.0.0.1:PORT/: choose a model, a primer (built-in or your MIDI file), the
    temperature and the length; generate; see the piano-roll, listen, download the MIDI. Ctrl-C or SIGTERM stops it."""
    import signal
    import tempfile

    from seqgen.cli.inputs import check_input
    from seqgen.core.signals import stopping_on
    from seqgen.errors import SeqgenError
    from seqgen.runtime import console

    soundfont, port = options["soundfont"], options["port"]
    if soundfont is not None:
        check_input(soundfont, "soundfont file")
    from seqgen.music.render import find_soundfont
    from seqgen.music.shipped import shipped_index
    from seqgen.runtime import set_threads
    from seqgen.studio.engine import Studio
    from seqgen.studio.server import StudioServer

    find_soundfont(soundfont)  # a file that is no soundfont is refused now, not at the first song
    shipped_index()  # and an unreadable model index
    set_threads(1)
    with tempfile.TemporaryDirectory(prefix="seqgen-studio-") as folder:
        try:
            server = StudioServer(Studio(Path(folder), soundfont), port)
        except OSError as exc:
            raise SeqgenError(f"127.0.0.1:{port}: cannot listen ({exc.strerror or exc}; try --port 0)") from None
        console.print(f"seqgen studio on {server.url} (this machine only); Ctrl-C stops it", highlight=False)
        if options["open_browser"]:
            import webbrowser

            webbrowser.open(server.url)
        try:  # its own handlers: a studio started as a script's background job inherits SIGINT ignored
            with stopping_on(signal.SIGINT), stopping_on(signal.SIGTERM):
                server.serve_forever()
        except KeyboardInterrupt:  # seqgen.core.signals.Stopped is one
            console.print("studio stopped", highlight=False)
        finally:
            server.server_close()
