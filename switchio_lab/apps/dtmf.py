"""DTMF: send a digit sequence over a call and check that it arrives intact."""

from __future__ import annotations

import logging
from collections import deque

from ..core import AppError, Session
from ..core.marks import callback, coroutine
from ..core.registry import app

log = logging.getLogger("switchio_lab.apps.dtmf")


@app
class DtmfChecker:
    """Send ``sequence`` from the caller; check the callee receives exactly that.

    The callee (inbound leg) is answered when parked and expects the sequence. Once the
    caller (outbound leg) parks -- after it is answered -- it sends the digits
    (``uuid_send_dtmf``, ``duration`` ms each). Every ``DTMF`` event on the callee is
    compared with the next expected digit:

    - :attr:`results` -- callee uuid -> the digits received so far;
    - :attr:`incomplete` -- callee uuid -> the digits still expected;
    - :attr:`incorrect` -- callee uuid -> ``(expected, received)`` of its first wrong
      digit (such a session is done: further digits are recorded, not checked);
    - :attr:`checked` -- the uuids whose whole sequence arrived correct (also
      ``sess.vars["dtmf_checked"] = True``).

    Calls stay up; hang them up when done (or let an auto-dialer do it). Caller and
    callee may be on different nodes: each side is handled where its leg is.

    Events: ``CHANNEL_PARK``, ``DTMF``, ``CHANNEL_HANGUP`` (to keep what was missed).
    """

    def __init__(self, sequence: str = "123456789", duration: int = 200) -> None:
        self.sequence = sequence
        self.duration = duration
        self.results: dict[str, str] = {}
        self.incomplete: dict[str, deque[str]] = {}
        self.incorrect: dict[str, tuple[str, str]] = {}
        self.checked: list[str] = []
        self.missed: dict[str, str] = {}  # hung up before the whole sequence came

    def prepost(self, sequence: str | None = None, duration: int | None = None) -> None:
        if sequence is not None:
            if not sequence or any(d not in "0123456789*#ABCDabcd" for d in str(sequence)):
                raise AppError(f"DtmfChecker: not a DTMF sequence: {sequence!r}")
            self.sequence = str(sequence)
        if duration is not None:
            self.duration = int(duration)

    @property
    def failed(self) -> list[str]:
        """The callee uuids whose sequence was wrong or cut short."""
        return [*self.incorrect, *self.missed]

    @property
    def total_time(self) -> float:
        """Roughly how long sending the sequence takes (s)."""
        return len(self.sequence) * self.duration / 1000.0

    @coroutine("CHANNEL_PARK")
    async def on_park(self, sess: Session) -> None:
        if sess.is_inbound():
            self.incomplete[sess.uuid] = deque(self.sequence)
            self.results[sess.uuid] = ""
            sess.vars["dtmf_checked"] = False
            await sess.answer()
        elif sess.is_outbound():
            log.info("DtmfChecker: sending %r on %s", self.sequence, sess.uuid)
            await sess.send_dtmf(self.sequence, self.duration)

    @callback("DTMF")
    def on_digit(self, sess: Session) -> None:
        remaining = self.incomplete.get(sess.uuid)
        digit = sess["DTMF-Digit"]
        self.results[sess.uuid] = self.results.get(sess.uuid, "") + digit
        if remaining is None:  # done (or not a leg this app expected digits on)
            return
        expected = remaining.popleft()
        if digit != expected:
            log.warning("DtmfChecker: expected %r, received %r on %s", expected, digit,
                        sess.uuid)
            self.incorrect[sess.uuid] = (expected, digit)
            del self.incomplete[sess.uuid]
        elif not remaining:
            del self.incomplete[sess.uuid]
            self.checked.append(sess.uuid)
            sess.vars["dtmf_checked"] = True

    @callback("CHANNEL_HANGUP")
    def on_hangup(self, sess: Session) -> None:
        remaining = self.incomplete.pop(sess.uuid, None)
        if remaining:
            self.missed[sess.uuid] = "".join(remaining)
