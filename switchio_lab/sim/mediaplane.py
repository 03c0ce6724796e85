"""Who hears what on one node: playbacks, echo, recordings and DTMF, modelled in time.

Nothing is streamed. When a channel plays something, the channel at the far end of its
call (its bridge partner, or the other side of its SIP dialog) hears it from that
moment: both keep the same *span* (start, end, media), the player as sent audio and the
listener as received audio. Recordings mix the spans a channel sends and hears into a
real WAV file (:class:`~switchio_lab.sim.media.Recorder`), and at hangup the spans
become the RTP statistics FreeSWITCH reports (:mod:`.quality`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .media import Recorder
from .media.impair import CALL_VARIABLES, Impairment, ImpairmentError, LossPlan, Timeline

if TYPE_CHECKING:
    from .channel import Channel
    from .node import Node

#: DTMF-Duration FreeSWITCH reports for RFC 2833 digits (samples at 8 kHz)
DTMF_DURATION = 2080
DTMF_GAP = 0.1


@dataclass(eq=False)
class Span:
    """One stretch of audio: ``media`` from ``start`` until ``end`` (None: still playing)."""

    start: float
    media: Any
    end: float | None = None
    handles: list[tuple[Any, int, float]] = field(default_factory=list)  # (recorder, h, t0)

    def stop(self, at: float) -> None:
        if self.end is None:
            self.end = at
            for recorder, handle, t0 in self.handles:
                if not recorder.closed:
                    recorder.cut(handle, at - t0)


@dataclass(eq=False)
class _Recording:
    path: Path
    recorder: Any
    started: float


@dataclass(eq=False)
class Leg:
    """The media of one channel."""

    sent: list[Span] = field(default_factory=list)
    heard: list[Span] = field(default_factory=list)
    playing: list[Span] = field(default_factory=list)
    echo: bool = False
    recordings: dict[str, _Recording] = field(default_factory=dict)
    dtmf_in: int = 0
    dtmf_out: int = 0
    #: the address of the node whose packets this leg heard, and the call's impair_* vars
    heard_from: str | None = None
    call_vars: dict[str, str] = field(default_factory=dict)
    #: the fate of each packet this leg receives (recording and statistics share it)
    plan: LossPlan | None = None


def _call_vars(*legs: Channel) -> dict[str, str]:
    """The ``impair_*`` channel variables of a call's legs (an originate's
    ``{impair_loss=0.03}`` sets them on the caller; a leg's own win)."""
    out: dict[str, str] = {}
    for leg in legs:
        for var in CALL_VARIABLES:
            value = leg.getvar(var)
            if value not in (None, ""):
                out[var] = value
    return out


def far_end(ch: Channel) -> Channel | None:
    """The channel that hears what ``ch`` plays."""
    return ch.bridged or ch.peer


class MediaPlane:
    """Media bookkeeping for the channels of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.legs: dict[str, Leg] = {}
        #: impairments of the packets this node receives, by the sender's address
        self.links: dict[str, Timeline] = {}
        #: called with (source address, Impairment) after every change (widget panels)
        self.link_watchers: list[Any] = []

    # -- the network ------------------------------------------------------------------------
    def impair(self, source: Any, impairment: Impairment | None = None,
               at: float | None = None, **changes: Any) -> Impairment:
        """Impair the packets this node receives from ``source`` (a node or its address;
        this node itself for calls it places to itself) from ``at`` (default: now) on:
        ``impairment`` as a whole, or ``changes`` to fields of the one in force
        (:class:`~.media.impair.Impairment`). Returns the impairment now in force;
        invalid values raise :class:`~.media.impair.ImpairmentError` and change nothing."""
        addr = source if isinstance(source, str) else source.config.address
        at = time.time() if at is None else at
        line = self.links.get(addr)
        base = line.current if line is not None else Impairment()
        if impairment is not None and not isinstance(impairment, Impairment):
            raise ImpairmentError(f"not an Impairment: {impairment!r}")
        new = (impairment or base).replace(**changes) if changes else (impairment or base)
        if line is None:
            line = self.links[addr] = Timeline(Impairment(), since=0.0)
        line.set(new, at)
        for watcher in list(self.link_watchers):
            watcher(addr, new)
        return new

    def impairment(self, source: Any) -> Impairment:
        """The impairment in force on packets from ``source``."""
        addr = source if isinstance(source, str) else source.config.address
        line = self.links.get(addr)
        return line.current if line is not None else Impairment()

    def leg(self, ch: Channel) -> Leg:
        leg = self.legs.get(ch.uuid)
        if leg is None:
            leg = self.legs[ch.uuid] = Leg()
        return leg

    # -- playing --------------------------------------------------------------------------
    def playing(self, ch: Channel, media: Any, start: float) -> Span:
        """``ch`` starts playing ``media`` at ``start`` (its far end hears it)."""
        span = Span(start, media)
        leg = self.leg(ch)
        leg.sent.append(span)
        leg.playing.append(span)
        self._record(ch, span)
        far = far_end(ch)
        if far is not None and far.cause is None:
            far_leg = far.node.media.leg(far)
            far_leg.heard_from = ch.node.config.address
            far_leg.call_vars = _call_vars(ch, far)
            far_leg.heard.append(span)
            far.node.media._record(far, span, heard=True)
            if far_leg.echo:  # echoed straight back to the player
                leg.heard_from = far.node.config.address
                leg.call_vars = far_leg.call_vars
                far_leg.sent.append(span)
                leg.heard.append(span)
        return span

    def stopped(self, ch: Channel, end: float) -> None:
        leg = self.leg(ch)
        for span in leg.playing:
            span.stop(end)
        leg.playing.clear()

    def echo(self, ch: Channel, on: bool) -> None:
        self.leg(ch).echo = on

    def _record(self, ch: Channel, span: Span, heard: bool = False) -> None:
        leg = self.legs.get(ch.uuid)
        if leg is None:
            return
        for rec in leg.recordings.values():
            at = span.start - rec.started
            length = None if span.end is None else span.end - span.start
            mask = self._heard_mask(ch, span, rec.started) if heard else None
            handle = rec.recorder.add(span.media, at, length, mask)
            span.handles.append((rec.recorder, handle, rec.started))

    # -- what the network did to the packets a leg received ---------------------------------
    def loss_plan(self, ch: Channel) -> LossPlan | None:
        """The :class:`~.media.impair.LossPlan` of the packets ``ch`` receives (None when
        neither its link nor its call's ``impair_*`` variables impair them): the recording
        of ``ch`` and its RTP statistics at hangup lose the same packets."""
        leg = self.legs.get(ch.uuid)
        if leg is None or leg.heard_from is None or not ch.answered_at:
            return None
        if leg.plan is not None:
            return leg.plan
        source = leg.heard_from
        if self.links.get(source) is None and not leg.call_vars:
            return None
        t0 = ch.answered_at
        cache: dict[tuple[int, int], Impairment] = {}

        def impairment_at(k: int) -> Impairment:
            line = self.links.get(source)
            t = t0 + k * 0.020
            base, which = Impairment(), -1
            if line is not None:
                for i in range(len(line.changes) - 1, -1, -1):
                    if i == 0 or line.changes[i][0] <= t:
                        base, which = line.changes[i][1], i
                        break
            key = (which, id(base))
            imp = cache.get(key)
            if imp is None:
                imp = base
                if leg.call_vars:
                    try:
                        imp = Impairment.from_variables(leg.call_vars, base=base) or base
                    except ImpairmentError:
                        imp = base
                cache[key] = imp
            return imp

        leg.plan = LossPlan(hash(ch.uuid) & 0xFFFF, impairment_at)
        return leg.plan

    def _heard_mask(self, ch: Channel, span: Span, rec_started: float) -> Any:
        """The recorder mask of a span ``ch`` hears: silence for the 20 ms frames whose
        packets its :meth:`loss_plan` loses (or its jitter buffer drops as too late)."""
        def mask(lo: int, hi: int) -> np.ndarray:
            out = np.ones(hi - lo, bool)
            plan = self.loss_plan(ch)
            answered = ch.answered_at
            if plan is None or not answered:
                return out
            t = rec_started + np.arange(lo, hi) / 8000.0  # absolute time of each sample
            start = max(span.start, answered)
            ms = plan.ptime / 1000.0
            inside = t >= start
            if not inside.any():
                return out
            # packet k as the statistics number it: sent k × ptime after the answer
            k = (np.floor((start - answered) / ms + 1e-9)
                 + np.floor((t[inside] - start) / ms + 1e-9)).astype(np.int64)
            ks = np.unique(k)
            gone = ks[plan.unheard(ks)]
            out[inside] = ~np.isin(k, gone)
            return out

        return mask

    # -- recording ------------------------------------------------------------------------
    def start_record(self, ch: Channel, path: str, now: float | None = None) -> Path:
        """Record what ``ch`` sends and hears into a WAV file (RECORD_START)."""
        p = Path(path)
        if not p.is_absolute() and self.node.config.record_dir:
            p = Path(self.node.config.record_dir) / p
        p.parent.mkdir(parents=True, exist_ok=True)
        now = time.time() if now is None else now
        leg = self.leg(ch)
        rec = leg.recordings[str(path)] = _Recording(
            p, Recorder(p, 8000, now, codec=ch.codec_name), now)
        ch.fire("RECORD_START", {"Record-File-Path": str(path)})
        ch.fire("MEDIA_BUG_START", {"Media-Bug-Function": "session_record",
                                    "Media-Bug-Target": str(path)})
        for span in leg.playing:
            handle = rec.recorder.add(span.media, span.start - now, None)
            span.handles.append((rec.recorder, handle, now))
        for span in [s for s in leg.heard if s.end is None]:
            handle = rec.recorder.add(span.media, span.start - now, None,
                                      self._heard_mask(ch, span, now))
            span.handles.append((rec.recorder, handle, now))
        return p

    def stop_record(self, ch: Channel, which: str = "all", cause: str = "success-maxtime",
                    now: float | None = None) -> list[Path]:
        """Stop recordings of ``ch`` (``all`` or one path); returns the files written."""
        leg = self.legs.get(ch.uuid)
        if leg is None:
            return []
        now = time.time() if now is None else now
        names = list(leg.recordings) if which == "all" else [which]
        done = []
        for name in names:
            rec = leg.recordings.pop(name, None)
            if rec is None:
                continue
            rec.recorder.close(now)
            done.append(rec.path)
            ch.setvars(rec.recorder.variables())
            ch.setvar("record_completion_cause", cause)
            ch.fire("RECORD_STOP", {"Record-File-Path": name, "Record-Completion-Cause": cause})
            ch.fire("MEDIA_BUG_STOP", {"Media-Bug-Function": "session_record",
                                       "Media-Bug-Target": name})
        return done

    # -- DTMF ---------------------------------------------------------------------------------
    def dtmf(self, ch: Channel, digits: str, sender: Channel | None = None) -> None:
        """Deliver ``digits`` to ``ch`` as DTMF events (RFC 2833), one every 100 ms."""
        async def deliver() -> None:
            for digit in digits:
                if ch.cause:
                    return
                if digit in "wW":
                    await asyncio.sleep(0.5 if digit == "w" else 1.0)
                    continue
                ch.dtmf_received.append(digit)
                self.leg(ch).dtmf_in += 1
                if sender is not None:
                    sender.node.media.leg(sender).dtmf_out += 1
                    sender.setvar("last_dtmf_duration", "1000")
                ch.fire("DTMF", {"DTMF-Digit": digit, "DTMF-Duration": str(DTMF_DURATION),
                                 "DTMF-Source": "RTP"})
                await asyncio.sleep(DTMF_GAP)

        asyncio.get_running_loop().create_task(deliver())

    def hangup(self, ch: Channel, at: float) -> Leg | None:
        """Close what is left of ``ch``'s media; returns its bookkeeping."""
        self.stopped(ch, at)
        self.stop_record(ch, "all", "success-maxtime", at)
        return self.legs.pop(ch.uuid, None)
