"""Blockers: callees that do not simply answer, as an auto-dialer meets them.

- :class:`CalleeBlockOnInvite` -- reject the call (a SIP response or a hangup cause);
- :class:`CalleeRingback` -- ring (with early media) and never answer;
- :class:`CalleeHangupAfterAnswer` -- answer, then hang up after a delay.

Load one under the app id the auto-dialer's calls carry, on the node where the callees
are; the callers see the failures as hangup causes and ``-ERR <CAUSE>`` job results.
"""

from __future__ import annotations

import math

from ..core import AppError, Session
from ..core.marks import callback
from ..core.registry import app


@app
class CalleeBlockOnInvite:
    """Reject every inbound call as soon as it arrives.

    ``response`` is a SIP status (``486``: busy -> USER_BUSY, ``404``, ``503``...) sent
    with ``respond``, or a hangup cause name (``"CALL_REJECTED"``, the default) the
    callee hangs up with. ``rejected`` counts the calls turned away.

    Events: ``CHANNEL_CREATE`` (the INVITE arrived).
    """

    def __init__(self, response: int | str = "CALL_REJECTED") -> None:
        self.response = response
        self.rejected = 0

    def prepost(self, response: int | str | None = None) -> None:
        if response is not None:
            self.response = response

    @callback("CHANNEL_CREATE")
    def on_invite(self, sess: Session) -> None:
        if sess.is_inbound():
            self.rejected += 1
            if isinstance(self.response, int) or str(self.response).isdigit():
                sess.respond(int(self.response))
            else:
                sess.hangup(str(self.response))


@app
class CalleeRingback:
    """Calls that reach early media but never connect.

    The callee (inbound leg) sends ``ring_response`` (``"pre_answer"``: 183 with early
    media, the default; ``"ring_ready"``: 180), plays ``ringback`` (US ring tones by
    default; None: nothing) and never answers. ``callee_hup_after`` /
    ``caller_hup_after`` (seconds from the leg's creation; default: never) hang up
    the callee or the caller -- otherwise the caller's ``originate_timeout`` does
    (NO_ANSWER).

    Events: ``CHANNEL_CREATE`` (arm the caller's hangup), ``CHANNEL_PARK`` (ring).
    """

    def __init__(self, ringback: str | None = "tone_stream://%(2000,4000,440,480)",
                 callee_hup_after: float = math.inf, caller_hup_after: float = math.inf,
                 ring_response: str = "pre_answer") -> None:
        self.ringback = ringback
        self.callee_hup_after = callee_hup_after
        self.caller_hup_after = caller_hup_after
        self.ring_response = ring_response
        self.auto_duration = False

    def prepost(self, ringback: str | None = "", callee_hup_after: float | None = None,
                caller_hup_after: float | None = None, ring_response: str | None = None,
                auto_duration: bool = False) -> None:
        if ringback != "":
            self.ringback = ringback
        if callee_hup_after is not None:
            self.callee_hup_after = callee_hup_after
        if caller_hup_after is not None:
            self.caller_hup_after = caller_hup_after
        if ring_response is not None:
            if ring_response not in ("pre_answer", "ring_ready"):
                raise AppError("CalleeRingback: ring_response is 'pre_answer' or "
                               f"'ring_ready', not {ring_response!r}")
            self.ring_response = ring_response
        self.auto_duration = auto_duration

    def __setduration__(self, value: float) -> None:
        """An auto-dialer's call ``duration``: with ``auto_duration``, the callee's."""
        if self.auto_duration:
            self.callee_hup_after = value

    @callback("CHANNEL_CREATE")
    def on_create(self, sess: Session) -> None:
        if sess.is_outbound() and not math.isinf(self.caller_hup_after):
            sess.sched_hangup(self.caller_hup_after, "ORIGINATOR_CANCEL")

    @callback("CHANNEL_PARK")
    def on_park(self, sess: Session) -> None:
        if not sess.is_inbound() or sess.answered:
            return
        sess.execute(self.ring_response)
        if self.ringback:
            sess.playback(self.ringback)
        if not math.isinf(self.callee_hup_after):
            sess.sched_hangup(max(0.0, self.callee_hup_after - sess.uptime))


@app
class CalleeHangupAfterAnswer:
    """Answer every inbound call, then hang it up ``delay`` seconds later with ``cause``.

    Events: ``CHANNEL_PARK`` (answer), ``CHANNEL_ANSWER`` (arm the hangup).
    """

    def __init__(self, delay: float = 1.0, cause: str = "NORMAL_CLEARING") -> None:
        self.delay = delay
        self.cause = cause

    def prepost(self, delay: float | None = None, cause: str | None = None) -> None:
        if delay is not None:
            self.delay = delay
        if cause is not None:
            self.cause = cause

    @callback("CHANNEL_PARK")
    def on_park(self, sess: Session) -> None:
        if sess.is_inbound() and not sess.answered:
            sess.answer()

    @callback("CHANNEL_ANSWER")
    def on_answer(self, sess: Session) -> None:
        if sess.is_inbound():
            sess.sched_hangup(self.delay, self.cause)


__all__ = ["CalleeBlockOnInvite", "CalleeHangupAfterAnswer", "CalleeRingback"]
