"""Bit error rate tests over calls, with FreeSWITCH's ``mod_bert``.

``mod_bert`` is a FreeSWITCH module (not built by default) whose ``bert_test``
application sends a known bit pattern and checks what comes back. The embedded switch
does not provide it: loading :class:`Bert` there fails with a clear
:class:`~switchio_lab.api.AppError`.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from ..core import AppError, Session
from ..core.marks import callback
from ..core.registry import app

log = logging.getLogger("switchio_lab.apps.bert")


@app
class Bert:
    """Run ``mod_bert``'s ``bert_test`` on the calls (see FreeSWITCH's mod_bert docs).

    The callee (inbound leg) is answered when parked -- after ``pdd`` seconds of
    post-dial delay with an optional ``ring_response`` (``pre_answer``/``ring_ready``)
    and a further ``prd`` -- and echoes what it gets (or runs ``bert_test`` too when
    :attr:`two_sided`); the caller (outbound leg) runs ``bert_test`` once parked.
    ``mod_bert``'s custom events update the sessions: ``sess.vars["bert_sync"]``, and
    :attr:`lost_sync` / :attr:`timed_out` collect the sessions that lost sync or timed
    out. ``opts`` (channel variables ``bert_*``, jitter buffer, codec) are set on every
    leg.

    ``prepost`` checks ``api module_exists mod_bert`` and raises
    :class:`~switchio_lab.api.AppError` if the switch does not have the module.

    Events: ``CHANNEL_PARK``, ``CHANNEL_ANSWER``, ``CUSTOM`` events
    ``mod_bert::in_sync``, ``mod_bert::lost_sync``, ``mod_bert::timeout``.
    """

    bert_sync_lost_var = "bert_stats_sync_lost"
    desync_stats = ("sync_lost_percent", "sync_lost_count", "cng_count", "err_samples")

    def __init__(self) -> None:
        self.ring_response: str | None = None
        self.pdd = 0.0
        self.prd = 0.0
        self.two_sided = False
        self.opts: dict[str, str] = {
            "bert_timer_name": "soft",
            "bert_max_err": "30",
            "bert_timeout_ms": "3000",
            "bert_hangup_on_error": "yes",
            "jitterbuffer_msec": "100:200:40",
            "absolute_codec_string": "PCMU",
        }
        self.lost_sync: deque[Session] = deque(maxlen=1000)
        self.timed_out: deque[Session] = deque(maxlen=1000)

    async def prepost(self, client: Any, ring_response: str | None = None,
                      pdd: float | None = None, prd: float | None = None,
                      two_sided: bool = False, **opts: str) -> None:
        """Check that the switch has ``mod_bert``, then take the settings."""
        answer = (await client.api("module_exists mod_bert")).strip()
        if answer != "true":
            why = ("it says the module is not loaded" if answer == "false"
                   else f"it cannot tell ({answer or 'no answer'})")
            raise AppError(
                f"Bert needs FreeSWITCH's mod_bert, and {client.host}:{client.port} does not "
                f"have it: `module_exists mod_bert` -> {why}. Build FreeSWITCH with "
                "mod_bert and `load mod_bert` (the embedded switch has no mod_bert).")
        self.ring_response = ring_response
        self.pdd = pdd or 0.0
        self.prd = prd or 0.0
        self.two_sided = two_sided
        self.opts.update({k: str(v) for k, v in opts.items()})

    @property
    def hangup_on_error(self) -> bool:
        """Whether mod_bert hangs up a call whose test fails."""
        return self.opts.get("bert_hangup_on_error", "no") == "yes"

    @hangup_on_error.setter
    def hangup_on_error(self, value: bool) -> None:
        self.opts["bert_hangup_on_error"] = "yes" if value else "no"

    @callback("CHANNEL_PARK")
    def on_park(self, sess: Session) -> None:
        sess.setvars(self.opts)
        if sess.is_inbound() and not sess.answered:
            if self.ring_response:
                _later(sess, self.pdd, f"{self.ring_response}::")
            if self.pdd or self.prd:
                _later(sess, self.pdd + self.prd, "answer::")
            else:
                sess.answer()
        elif sess.is_outbound():  # parked by originate's &park() once answered
            sess.broadcast("bert_test::")

    @callback("CHANNEL_ANSWER")
    def on_answer(self, sess: Session) -> None:
        if sess.is_inbound():
            sess.broadcast("bert_test::" if self.two_sided else "echo::")

    @callback("mod_bert::lost_sync")
    def on_lost_sync(self, sess: Session) -> None:
        stats = ", ".join(f"{name}={sess.get(name, 'n/a')}" for name in self.desync_stats)
        log.error("Bert: lost sync on session %s (%s)", sess.uuid, stats)
        if "bert_lost_sync_cnt" not in sess.vars:  # the first loss of this session
            sess.vars["bert_lost_sync_cnt"] = 0
            sess.setvar(self.bert_sync_lost_var, "true")
            partner = sess.call.get_peer(sess) if sess.call is not None else None
            if partner is not None:
                partner.setvar(self.bert_sync_lost_var, "true")
            self.lost_sync.append(sess)
        sess.vars["bert_lost_sync_cnt"] += 1
        sess.vars["bert_sync"] = False

    @callback("mod_bert::timeout")
    def on_timeout(self, sess: Session) -> None:
        sess.vars["bert_timeout"] = True
        log.error("Bert: timeout on session %s", sess.uuid)
        self.timed_out.append(sess)

    @callback("mod_bert::in_sync")
    def on_synced(self, sess: Session) -> None:
        sess.vars["bert_sync"] = True


def _later(sess: Session, delay: float, app_spec: str) -> None:
    """``uuid_broadcast`` ``app_spec`` to ``sess`` after ``delay`` seconds."""
    import asyncio

    if delay <= 0:
        sess.broadcast(app_spec)
    else:
        asyncio.get_running_loop().call_later(delay, lambda: sess.hungup
                                              or sess.broadcast(app_spec))
