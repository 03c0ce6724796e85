"""RTP statistics and MOS at hangup, from the audio spans a leg sent and heard."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .media import RtpStats
from .media.impair import Impairment, ImpairmentError

if TYPE_CHECKING:
    from .channel import Channel
    from .mediaplane import Leg, Span


def _relative(spans: list[Span], answered: float, end: float) -> list[tuple[float, float]]:
    out = []
    for s in spans:
        start = max(s.start, answered)
        stop = min(s.end if s.end is not None else end, end)
        if stop > start:
            out.append((start - answered, stop - start))
    return out


def hangup_media(ch: Channel) -> list[tuple[str, str]]:
    """The ``rtp_audio_*`` variables FreeSWITCH sets when a channel is reported.

    Audio flows only while something plays (a parked call sends nothing, as in the
    ``call_basic`` capture); the node's ``loss``/``jitter_ms`` impair what is received.
    """
    end = ch.hangup_at or time.time()
    leg = ch.node.media.hangup(ch, end)
    if ch.dialog is None:
        return []
    answered = ch.answered_at
    media_seconds = (end - answered) if answered else 0.0
    sent = _relative(leg.sent, answered, end) if leg and answered else []
    heard = _relative(leg.heard, answered, end) if leg and answered else []
    cfg = ch.node.config
    impairments = _impairments(ch, leg, answered, end) if answered else None
    plan = leg.plan if leg is not None and impairments is not None else None
    stats = RtpStats(media_seconds=media_seconds, sent=sent or 0, received=heard or 0,
                     loss=cfg.loss, jitter_ms=cfg.jitter_ms, impairments=impairments, plan=plan,
                     dtmf_in=leg.dtmf_in if leg else 0, dtmf_out=leg.dtmf_out if leg else 0,
                     seed=hash(ch.uuid) & 0xFFFF, codec=ch.codec_name)
    return list(stats.variables().items())



def _impairments(ch: Channel, leg: Leg | None, answered: float, end: float
                 ) -> list[tuple[float, Impairment]] | None:
    """What the network did to the packets ``ch`` received, as ``(seconds from answer,
    Impairment)`` changes: the link from the sending node to this one, with the call's
    ``impair_*`` variables over it. None when neither is set (the node's plain
    ``loss``/``jitter_ms`` then apply)."""
    if leg is None or leg.heard_from is None:
        return None
    line = ch.node.media.links.get(leg.heard_from)
    variables = leg.call_vars
    if line is None and not variables:
        return None
    segments = line.segments(answered, end) if line is not None else [
        (answered, end, Impairment())]
    out = []
    for start, _, imp in segments:
        if variables:
            try:
                imp = Impairment.from_variables(variables, base=imp) or imp
            except ImpairmentError as exc:
                ch.node.log(4, f"ignoring the call's impair_* variables: {exc}", ch.uuid)
                variables = {}
        out.append((start - answered, imp))
    return out
