"""Dialplan applications of the embedded switch (``sendmsg execute`` and the dialplan).

Each is ``async def app(channel, arg) -> response`` where the response is what
CHANNEL_EXECUTE_COMPLETE reports as ``Application-Response``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from . import cnum
from .bridging import link, unlink
from .causes import SIP_TO_CAUSE, is_cause, q850
from .channel import Channel, Hangup
from .config import sample
from .dialstring import DialFailed, parse_vars
from .listener import Listener
from .media import MediaError, parse_media

log = logging.getLogger("switchio_lab.sim")

App = Callable[[Channel, str], Awaitable[str | None]]
APPS: dict[str, App] = {}


def app(name: str) -> Callable[[App], App]:
    def register(func: App) -> App:
        APPS[name] = func
        return func
    return register


@app("answer")
async def answer(ch: Channel, arg: str) -> str:
    delay = sample(ch.node.config.answer_delay) if ch.direction == "inbound" else 0.0
    if delay > 0 and not ch.is_answered:
        await ch.wait(delay)
    ch.mark_answered()
    return "_none_"


@app("pre_answer")
async def pre_answer(ch: Channel, arg: str) -> str:
    ch.mark_progress(media=True)
    return "_none_"


@app("ring_ready")
async def ring_ready(ch: Channel, arg: str) -> str:
    ch.mark_progress(media=False)
    return "_none_"


@app("park")
async def park(ch: Channel, arg: str) -> str:
    ch.fire("CHANNEL_PARK")
    try:
        await ch.wait(None, inbox=True)
    except Hangup:
        ch.fire("CHANNEL_UNPARK")
        raise
    ch.fire("CHANNEL_UNPARK")
    return "_none_"


@app("hangup")
async def hangup(ch: Channel, arg: str) -> str:
    cause = arg.strip() or "NORMAL_CLEARING"
    ch.hangup(cause if is_cause(cause) else "NORMAL_CLEARING")
    return "_none_"


@app("respond")
async def respond(ch: Channel, arg: str) -> str:
    code_text = arg.split()[0] if arg.split() else ""
    code = int(code_text) if code_text.isdigit() else 0
    if code in (180, 181, 182):
        ch.mark_progress(media=False)
    elif code == 183:
        ch.mark_progress(media=True)
    elif 200 <= code < 300:
        ch.mark_answered()
    elif code >= 300:
        ch.hangup(SIP_TO_CAUSE.get(code, "NORMAL_UNSPECIFIED"))
        raise Hangup()
    return "_none_"


@app("sleep")
async def sleep(ch: Channel, arg: str) -> str:
    ms = max(0, cnum.atoi(arg))  # "nan", "inf": 0; "1e20": 1 (as FreeSWITCH's atoi)
    await ch.wait(ms / 1000.0)
    return "_none_"


@app("set")
async def set_(ch: Channel, arg: str) -> str:
    name, _, value = arg.partition("=")
    if name:
        if value:
            ch.setvar(name.strip(), value)
        else:
            ch.unsetvar(name.strip())
    return "_none_"


@app("export")
async def export(ch: Channel, arg: str) -> str:
    name, _, value = arg.partition("=")
    name = name.strip().removeprefix("nolocal:")
    ch.setvar(name, value)
    exports = ch.getvar("export_vars")
    ch.setvar("export_vars", f"{exports},{name}" if exports else name)
    return "_none_"


@app("unset")
async def unset(ch: Channel, arg: str) -> str:
    ch.unsetvar(arg.strip())
    return "_none_"


@app("info")
async def info(ch: Channel, arg: str) -> str:
    return "_none_"


@app("log")
async def log_(ch: Channel, arg: str) -> str:
    level, _, text = arg.partition(" ")
    ch.node.log(7, text or level, ch.uuid)
    return "_none_"


@app("transfer")
async def transfer(ch: Channel, arg: str) -> str:
    words = arg.split()
    if not words:
        return "_none_"
    dest = words[0]
    context = words[2] if len(words) > 2 else ch.context
    ch.transfer_to = (dest, context)
    ch.caller["Caller-Channel-Transfer-Time"] = str(ch.node.clock.stamp())
    return "_none_"


@app("playback")
async def playback(ch: Channel, arg: str) -> str:
    if not ch.media_ready:  # the answer->park window of a calling leg: no media yet
        return await _raced_playback(ch, arg)
    try:
        media = parse_media(arg, ch.node.sound_dir)
    except MediaError:
        return "FILE NOT FOUND"
    ch.fire("PLAYBACK_START", {"Playback-File-Type": media.kind, "Playback-File-Path": arg})
    started = time.time()
    status = "done"
    ch.node.media.playing(ch, media, started)
    try:
        length = media.playback_duration()
        finished = await ch.wait(None if math.isinf(length) else length)
        if not finished:
            status = "break"
    except Hangup:
        _playback_stopped(ch, media, arg, started, "break")
        ch._response_on_hangup = "FILE PLAYED"  # type: ignore[attr-defined]
        raise
    _playback_stopped(ch, media, arg, started, status)
    return "FILE PLAYED"


async def _raced_playback(ch: Channel, arg: str) -> str:
    """A ``playback`` in a calling leg's answer->park window (CS_CONSUME_MEDIA) fails
    ``PLAYBACK ERROR``, as on FreeSWITCH (``call_answer_race``), in one of two ways: at
    once, or after a PLAYBACK_START, with its PLAYBACK_STOP (``Playback-Status: done``)
    when the window closes. FreeSWITCH started every raced playback whose park came a
    tick or more after it ran (3 of 3) and some of those whose park fell in the same tick
    (4 of 11: ``raced_playback_start``)."""
    node = ch.node
    try:
        media = parse_media(arg, node.sound_dir)
    except MediaError:
        return "PLAYBACK ERROR"
    clock = node.clock
    later_tick = (ch.media_at is not None and clock.tick_us > 0
                  and clock.stamp(ch.media_at) > clock.stamp())
    if not later_tick and node.random.random() >= node.config.raced_playback_start:
        return "PLAYBACK ERROR"
    ch.fire("PLAYBACK_START", {"Playback-File-Type": media.kind, "Playback-File-Path": arg})
    started = time.time()
    try:
        await ch.wait(None)  # broken off when the window closes (the park's state change)
    except Hangup:
        _raced_stop(ch, media, arg, started)
        ch._response_on_hangup = "PLAYBACK ERROR"  # type: ignore[attr-defined]
        raise
    _raced_stop(ch, media, arg, started)
    return "PLAYBACK ERROR"


def _raced_stop(ch: Channel, media, arg: str, started: float) -> None:
    played = max(0.0, time.time() - started)
    samples = int(round(played * 8000))
    ch.setvars([("playback_last_offset_pos", str(samples)),
                ("playback_seconds", str(int(played))), ("playback_ms", str(int(played * 1000))),
                ("playback_samples", str(samples))])
    ch.fire("PLAYBACK_STOP", {"Playback-File-Type": media.kind, "Playback-File-Path": arg,
                              "Playback-Status": "done"})


def _playback_stopped(ch: Channel, media, arg: str, started: float, status: str) -> None:
    now = time.time()
    ch.node.media.stopped(ch, now)
    played = max(0.0, now - started)
    if not math.isinf(media.duration):
        played = min(played, media.playback_duration())
    samples = int(round(played * 8000))
    ch.setvars([("playback_last_offset_pos", str(samples)),
                ("playback_seconds", str(int(played))), ("playback_ms", str(int(played * 1000))),
                ("playback_samples", str(samples))])
    ch.fire("PLAYBACK_STOP", {"Playback-File-Type": media.kind, "Playback-File-Path": arg,
                              "Playback-Status": status})


APPS["endless_playback"] = playback
APPS["gentones"] = playback


@app("echo")
async def echo(ch: Channel, arg: str) -> str:
    ch.node.media.echo(ch, True)
    try:
        await ch.wait(None)
    finally:
        ch.node.media.echo(ch, False)
    return "_none_"


@app("record_session")
async def record_session(ch: Channel, arg: str) -> str:
    path = shlex.split(arg)[0] if arg.strip() else ""
    if not path:
        return "-ERR no path"
    ch.node.media.start_record(ch, path)
    return "_none_"


@app("stop_record_session")
async def stop_record_session(ch: Channel, arg: str) -> str:
    ch.node.media.stop_record(ch, arg.strip() or "all")
    return "_none_"


@app("send_dtmf")
async def send_dtmf(ch: Channel, arg: str) -> str:
    digits = arg.split("@")[0]
    far = ch.bridged or ch.peer
    if far is not None:
        await asyncio.sleep(0)
        far.node.media.dtmf(far, digits, sender=ch)
    return "_none_"


@app("bridge")
async def bridge(ch: Channel, arg: str) -> str:
    """Call ``arg`` and, once it answers, bridge it to this channel until one side leaves."""
    url = arg.strip()
    variables: dict[str, str] = {}
    if url.startswith("{"):
        end = url.index("}")
        variables = parse_vars(url[1:end])
        url = url[end + 1 :]
    timeout = float(cnum.positive(
        variables.pop("originate_timeout", None) or ch.getvar("call_timeout"), 60))
    for name in (ch.getvar("export_vars") or "").split(","):
        if name and ch.getvar(name) is not None:
            variables.setdefault(name, ch.getvar(name) or "")
    engine = ch.node.engine
    try:
        other = await engine.call(url, variables, caller=ch)
    except DialFailed as exc:
        ch.setvars([("originate_disposition", exc.cause), ("DIALSTATUS", exc.cause)])
        _bridge_failed(ch, exc.cause)
        return "_none_"
    gone = asyncio.ensure_future(asyncio.shield(ch.reported))
    try:
        await asyncio.wait({other.answered, other.reported, gone}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if ch.cause:
        if other.cause is None:
            other.hangup("ORIGINATOR_CANCEL")
        raise Hangup()
    if not other.is_answered:
        if other.cause is None:
            other.hangup("NO_ANSWER")
        cause = await asyncio.shield(other.reported)
        ch.setvars([("originate_disposition", cause), ("DIALSTATUS", cause)])
        _bridge_failed(ch, cause)
        return "_none_"
    answered_by(ch, other)
    link(ch, other)
    try:
        while ch.bridged is other and other.cause is None:
            await ch.wait(None)
    except Hangup:
        if other.cause is None:  # our side hung up: the bridged leg goes too
            other.hangup_extra += [
                ("sip_reason", f'Q.850;cause=16;text="{ch.cause}"'), ("sip_hangup_phrase", "OK"),
                ("last_bridge_hangup_cause", ch.cause or "NORMAL_CLEARING"),
                ("last_bridge_proto_specific_hangup_cause", "sip:200")]
            other.reporting_extra.append(("bridge_hangup_cause", ch.cause or "NORMAL_CLEARING"))
            other.hangup(ch.cause or "NORMAL_CLEARING")
        await asyncio.shield(other.reported)
        unlink(ch, other)
        raise
    unlink(ch, other)
    if ch.cause is None and other.cause is not None:
        ch.hangup(other.cause)  # hangup_after_bridge
        raise Hangup()
    return "_none_"


#: failures after which a bridging channel always goes on (mod_dptools' bridge)
_CONTINUE_CAUSES = frozenset({"NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL"})


def _bridge_failed(ch: Channel, cause: str) -> None:
    """A failed ``bridge`` hangs its channel up with the failure's cause, unless it was
    not answered (``NO_ANSWER``...) or ``continue_on_fail`` (true, or a list of cause
    names or numbers) says to go on: mod_dptools' audio_bridge_function. So a routing
    loop's ``EXCHANGE_ROUTING_ERROR`` travels back along the chain to the first caller."""
    if ch.cause is not None or cause in _CONTINUE_CAUSES:
        return
    goon = (ch.getvar("continue_on_fail") or "").strip()
    if goon:
        if goon.lower() in ("true", "yes", "on", "1"):
            return
        wanted = {w.strip().upper() for w in goon.split(",")}
        if cause in wanted or str(q850(cause)) in wanted:
            return
    ch.hangup(cause)


def answered_by(ch: Channel, other: Channel) -> None:
    """The bridging leg answers because its new leg did (CHANNEL_ANSWER with the dial)."""
    ch.caller["Caller-Callee-ID-Name"] = other.destination
    ch.caller["Caller-Callee-ID-Number"] = other.destination
    ch.setvars([("originate_disposition", "failure"), ("DIALSTATUS", "INVALIDARGS"),
                ("originate_signal_bond", other.uuid),
                ("originated_legs", f"{other.uuid};Outbound Call;{other.destination}"),
                ("switch_m_sdp", other.getvar("switch_r_sdp") or "")])
    ch.mark_answered()


@app("socket")
async def socket(ch: Channel, arg: str) -> str:
    """Connect to an outbound ESL server (``host:port [async] [full]``) and serve it."""
    words = arg.split()
    if not words:
        return "-ERR no address"
    host, _, port = words[0].rpartition(":")
    loop = asyncio.get_running_loop()
    try:
        transport, listener = await loop.create_connection(
            lambda: Listener(ch.node, session=ch), host or "127.0.0.1", int(port))
    except OSError as exc:
        log.warning("channel %s: socket %s failed: %s", ch.uuid, words[0], exc)
        ch.hangup("DESTINATION_OUT_OF_ORDER")
        raise Hangup() from None
    ch.socket_listener = listener  # type: ignore[attr-defined]
    ch.watch(listener)
    ch.setvar("socket_host", host or "127.0.0.1")
    try:
        while getattr(ch, "socket_listener", None) is listener:
            await ch.wait(None, inbox=True)
    except Hangup:
        ch.fire("CHANNEL_UNPARK")  # async mode parks the channel under the socket
        raise
    return "_none_"


def _path(ch: Channel, path: str) -> Path:
    p = Path(path)
    if not p.is_absolute() and ch.node.config.record_dir:
        p = Path(ch.node.config.record_dir) / p
    return p
