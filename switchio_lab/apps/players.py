"""Players: apps that put audio on calls (and record it).

- :class:`TonePlay` -- the caller plays a tone forever, the callee echoes it back;
- :class:`PlayRec` -- the caller plays a clip to the callee; now and then a call is
  recorded on both legs, for audio quality checks (MOS, PESQ) on real WAV files.

Both are plain marked classes, exactly as a user would write them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from ..core import AppError, Session, SessionEnded
from ..core.marks import callback, coroutine
from ..core.registry import app

log = logging.getLogger("switchio_lab.apps.players")


@app
class TonePlay:
    """Play a 'milli-watt' tone on the outbound leg and echo it back on the inbound.

    The callee (inbound leg, parked by the switch's dialplan) is answered and runs
    ``echo``; the caller (outbound leg) plays a 1004 Hz tone forever from its
    ``CHANNEL_PARK`` -- which ``&park()`` raises once the leg is answered *and* its media
    is up. Calls last until someone hangs them up (the auto-dialer, ``hupall``).

    Why not on the caller's ``CHANNEL_ANSWER``, as switchio's page shows: on a real
    FreeSWITCH the caller is still in ``CS_CONSUME_MEDIA`` for a tick or two after it,
    and a playback sent then fails (``PLAYBACK ERROR``, a silent call: 475 of 1200 at 60
    calls/s; the ``call_answer_race`` capture).

    Events: ``CHANNEL_PARK`` (answer the callee; start the caller's tone),
    ``CHANNEL_ANSWER`` (the callee echoes).
    """

    tone = "tone_stream://%(251,0,1004)"

    @callback("CHANNEL_PARK")
    def on_park(self, sess: Session) -> None:
        if sess.is_inbound():
            if not sess.answered:
                sess.answer()
        elif sess.answered:  # the caller, parked by &park() with its media ready
            sess.playback(self.tone, params={"loops": "-1"})

    @callback("CHANNEL_ANSWER")
    def on_answer(self, sess: Session) -> None:
        if sess.is_inbound():  # the callee simply echoes back the tone
            sess.echo()


class RecInfo(NamedTuple):
    """One recorded call, as given to :class:`PlayRec`'s ``callback``.

    ``caller_file`` holds what the caller sent and heard, ``callee_file`` what the callee
    heard (the clip after its trip through the network). ``host`` is the caller's
    switch; for a call between two nodes the callee file lives on the callee's switch.
    """

    host: str
    caller_file: str
    callee_file: str


#: The clip :class:`PlayRec` plays unless given another: 1 s of two tones (en/decoded
#: clean by G.711, so recordings show sharp spectral peaks), faded in and out.
CLIP_TONES = (440.0, 1250.0)
CLIP_SECONDS = 1.0
CLIP_RATE = 8000


def default_clip(directory: str | os.PathLike[str] | None = None) -> Path:
    """Write (once) the default :class:`PlayRec` clip as a WAV file and return its path.

    The content is deterministic; the file goes to ``directory`` (default: a
    ``switchio-lab`` folder in the system temporary directory) and is replaced
    atomically, so concurrent callers all see a whole file.
    """
    import numpy as np

    folder = Path(directory) if directory is not None else (
        Path(tempfile.gettempdir()) / "switchio-lab" / "clips")
    name = "playrec-" + "-".join(f"{f:g}" for f in CLIP_TONES) + f"hz-{CLIP_SECONDS:g}s.wav"
    path = folder / name
    n = int(CLIP_SECONDS * CLIP_RATE)
    t = np.arange(n) / CLIP_RATE
    signal = sum(0.3 * np.sin(2 * np.pi * f * t) for f in CLIP_TONES)
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.02 * CLIP_RATE))
    samples = np.round(signal * ramp * 32767).astype(np.int16)
    data = samples.astype("<i2").tobytes()
    if path.is_file() and path.stat().st_size == 44 + len(data):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".wav.part")
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as w:  # 16-bit mono PCM, 44-byte header
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(CLIP_RATE)
            w.writeframes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


#: What :func:`speech_clip` says (Harvard sentences, IEEE 1969: the usual speech-quality
#: test material), about 10 s at espeak-ng's default rate.
SPEECH_TEXT = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue "
               "background. It is easy to tell the depth of a well. These days a chicken "
               "leg is a rare dish.")


class SpeechUnavailable(RuntimeError):
    """espeak-ng is not installed (``apt-get install espeak-ng``)."""


def speech_clip(directory: str | os.PathLike[str] | None = None,
                text: str = SPEECH_TEXT, voice: str = "en-us") -> Path:
    """Write (once, cached by text and voice) a speech clip for PESQ and return its path:
    ``text`` spoken by Debian's ``espeak-ng`` (its output is free to use), resampled to an
    8 kHz 16-bit mono WAV that :class:`PlayRec` can play (``clip=str(path)``). Raises
    :class:`SpeechUnavailable` when ``espeak-ng`` is not installed. PESQ needs speech: a
    tone has none of the structure it aligns and weighs."""
    import hashlib
    import shutil
    import subprocess

    import numpy as np

    folder = Path(directory) if directory is not None else (
        Path(tempfile.gettempdir()) / "switchio-lab" / "clips")
    key = hashlib.sha1(f"{voice}\0{text}".encode()).hexdigest()[:12]
    path = folder / f"speech-{voice}-{key}-8k.wav"
    if path.is_file() and path.stat().st_size > 44:
        return path
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    folder.mkdir(parents=True, exist_ok=True)
    fd, raw = tempfile.mkstemp(dir=folder, suffix=".raw.wav")
    os.close(fd)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".wav.part")
    os.close(fd)
    try:
        subprocess.run([exe, "-v", voice, "-w", raw, text], check=True,
                       capture_output=True, timeout=60)
        with wave.open(raw, "rb") as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
        # band-limited resampling to 8 kHz: keep the spectrum below 4 kHz
        n_out = int(round(len(x) * CLIP_RATE / rate))
        spec = np.fft.rfft(x)[: n_out // 2 + 1]
        y = np.fft.irfft(spec, n_out) * (n_out / len(x))
        y *= 0.5 * 32767 / max(1.0, float(np.abs(y).max()))  # peak at -6 dBFS
        with wave.open(tmp, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(CLIP_RATE)
            w.writeframes(np.round(y).astype("<i2").tobytes())
        os.replace(tmp, path)
    finally:
        for f in (raw, tmp):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f)
    return path


async def _global(client: Any, name: str) -> str | None:
    """A global variable of the switch (None if unset)."""
    value = (await client.api(f"global_getvar {name}")).strip()
    return None if not value or value.startswith("-ERR") else value


@app
class PlayRec:
    """Play a clip from the caller to the callee; record a call on both legs now and then.

    The callee (inbound leg) is answered when parked. When the caller (outbound leg)
    is answered it plays the clip ``iterations`` times (``math.inf``: until hung up),
    waits ``tail`` seconds and hangs the call up. Once every ``rec_period`` seconds a
    call is *recorded*: before the clip starts, each leg runs ``record_session`` to a
    WAV file in the switch's ``recordings_dir`` (or ``rec_dir``), and once the clip and
    tail are over the recordings are stopped, ``callback(RecInfo(host, caller_file,
    callee_file))`` is called, the :class:`RecInfo` appended to :attr:`recordings`, and
    the call hung up.

    Both legs must be seen by one instance of the app: a node calling itself (possibly
    through a proxy, as an auto-dialer does), or one instance loaded on every node
    (``AppManager.load_app(PlayRec(), ...)``). A call whose callee this instance does
    not see is played but never recorded.

    The clip must be a file the *switch* can play: by default a 1 s two-tone WAV
    (:func:`default_clip`) written to this machine's temporary directory, which serves
    the embedded switch and a FreeSWITCH on this host; for a remote FreeSWITCH pass
    ``clip=`` a path on that host (absolute, or relative to its ``sound_prefix``).

    Events: ``CHANNEL_PARK`` (answer the callee; the caller's media starts from its
    park, as in :class:`TonePlay`), ``PLAYBACK_START``, ``PLAYBACK_STOP``,
    ``RECORD_START``, ``RECORD_STOP`` (and ``CHANNEL_HANGUP`` to forget a call).
    """

    #: seconds a playback may take to start before the call is given up
    play_start_wait = 5.0

    def __init__(self) -> None:
        self.clip = ""
        self.clip_length = CLIP_SECONDS
        self.iterations: float = 1
        self.tail = 0.5
        self.rec_period = 5.0
        self.callback: Callable[[RecInfo], Any] | None = None
        self.recordings: list[RecInfo] = []
        self._rec_dirs: dict[int, str] = {}  # id(client) -> where its switch records
        self._last_rec: float | None = None
        self._callees: dict[str, Session] = {}  # call id -> callee leg

    async def prepost(self, client: Any, clip: str | None = None,
                      clip_length: float | None = None, iterations: float = 1,
                      callback: Callable[[RecInfo], Any] | None = None,
                      rec_period: float = 5.0, rec_dir: str | None = None,
                      tail: float = 0.5) -> None:
        """Set up: the clip, how often to record, and where recordings go on ``client``'s
        switch (``rec_dir``, else its ``recordings_dir``, else a temporary directory)."""
        if callback is not None and not callable(callback):
            raise AppError(f"PlayRec: callback must be callable, not {callback!r}")
        if rec_period < 0 or tail < 0 or iterations < 1:
            raise AppError("PlayRec: rec_period and tail must be >= 0, iterations >= 1")
        if clip is None:
            path = await asyncio.get_running_loop().run_in_executor(None, default_clip)
            clip, clip_length = str(path), CLIP_SECONDS
        self.clip = clip
        self.clip_length = clip_length or self.clip_length
        self.iterations = iterations
        self.callback = callback
        self.rec_period = rec_period
        self.tail = tail
        where = rec_dir or await _global(client, "recordings_dir")
        if where is None:
            where = tempfile.mkdtemp(prefix="switchio-lab-recordings-")
            log.warning("PlayRec: %s has no recordings_dir; recording to %s", client.host, where)
        self._rec_dirs[id(client)] = where

    def __setduration__(self, value: float) -> None:
        """Called by an auto-dialer setting its call ``duration``: play the clip as many
        times as fits, the rest of the time is the tail (at least 1 s)."""
        if math.isinf(value):
            self.iterations, self.tail = math.inf, 1.0
        else:
            whole, rest = divmod(value, self.clip_length)
            self.iterations, self.tail = max(1, int(whole)), max(rest, 1.0)

    # -- events -------------------------------------------------------------------------
    @callback("CHANNEL_PARK")
    def on_park(self, sess: Session) -> None:
        if sess.is_inbound() and not sess.answered:
            if sess.call is not None:
                self._callees[sess.call.uuid] = sess
            sess.answer()

    @coroutine("CHANNEL_PARK", subscribe=("PLAYBACK_START", "PLAYBACK_STOP", "RECORD_START",
                                          "RECORD_STOP"))
    async def on_answer(self, sess: Session) -> None:
        """The caller's park (after its answer, media ready; see :class:`TonePlay`)."""
        if not sess.is_outbound() or not sess.answered:
            return
        try:
            await self._play(sess)
        except (SessionEnded, asyncio.TimeoutError) as exc:  # hung up meanwhile
            log.debug("PlayRec: call of %s ended early: %s", sess.uuid, exc)

    @callback("CHANNEL_HANGUP")
    def on_hangup(self, sess: Session) -> None:
        if sess.call is not None and self._callees.get(sess.call.uuid) is sess:
            del self._callees[sess.call.uuid]

    # -- the call -----------------------------------------------------------------------
    def peer(self, sess: Session) -> Session | None:
        """The callee of caller ``sess``: in its call, or seen by this app on any node."""
        call = sess.call
        if call is None:
            return None
        peer = call.get_peer(sess)
        if peer is None or not peer.is_inbound():
            peer = self._callees.get(call.uuid)
        return peer if peer is not None and not peer.hungup else None

    def _should_record(self) -> bool:
        now = time.monotonic()
        if self._last_rec is None or now - self._last_rec >= self.rec_period:
            self._last_rec = now
            return True
        return False

    def _rec_path(self, sess: Session, role: str) -> str:
        folder = self._rec_dirs.get(id(sess.client)) or tempfile.gettempdir()
        return str(Path(folder) / f"{role}_{sess.uuid}.wav")

    async def _play(self, caller: Session) -> None:
        call = caller.call
        callee = self.peer(caller)
        record = callee is not None and self._should_record()
        files: tuple[str, str] | None = None
        if record and call is not None and callee is not None:
            call.vars["record"] = True
            call.vars["noautohangup"] = True  # an auto-dialer leaves this call to us
            files = (self._rec_path(caller, "caller"), self._rec_path(callee, "callee"))
            started = [caller.recv("RECORD_START"), callee.recv("RECORD_START")]
            caller.start_record(files[0])
            callee.start_record(files[1])
            await asyncio.gather(*started)
        played = 0
        while played < self.iterations:
            begun = caller.recv("PLAYBACK_START", timeout=self.play_start_wait)
            stopped = caller.recv("PLAYBACK_STOP", timeout=None)
            caller.playback(self.clip)
            try:
                await begun
            except asyncio.TimeoutError:
                stopped.cancel()  # type: ignore[attr-defined]
                log.warning("PlayRec: %s cannot play %s (no PLAYBACK_START within %g s); "
                            "hanging up", caller.host, self.clip, self.play_start_wait)
                await caller.hangup()
                return
            event = await stopped
            played += 1
            if event.get("Playback-Status") != "done":  # broken off, or not found
                log.warning("PlayRec: playback of %s on %s ended %s", self.clip, caller.uuid,
                            event.get("Playback-Status"))
                break
        if call is not None:
            call.vars["playback_count"] = played
        await asyncio.sleep(self.tail)
        if files is not None and callee is not None:
            stops = [caller.recv("RECORD_STOP"), callee.recv("RECORD_STOP")]
            caller.stop_record()
            callee.stop_record()
            await asyncio.gather(*stops)
            info = RecInfo(caller.host, *files)
            self.recordings.append(info)
            if self.callback is not None:
                try:
                    self.callback(info)
                except Exception:
                    log.exception("PlayRec: callback failed for %s", info)
        if not math.isinf(self.iterations):
            await caller.hangup()
