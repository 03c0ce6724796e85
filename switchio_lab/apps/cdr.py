"""The CDR app: one call detail record (a plain ``dict``) per call leg, at hangup.

Load it like any app, under the app id of the calls to measure (on each node whose legs
you want)::

    cdr = CDR()
    await client.load_app(cdr, "cdr")                        # rows go to cdr.rows
    await manager.load_app(CDR, "cdr", sink=writer.table("cdr"))   # or to any callable

A row is made when a leg's ``CHANNEL_HANGUP_COMPLETE`` arrives (the event FreeSWITCH
fills with the leg's timing and RTP variables). For the calling leg of a ``bgapi``
originate the row waits (up to ``job_timeout`` seconds) for the job's result, which
FreeSWITCH sends just *after* that event, so ``job_result`` is filled in.

Every leg gets its row, even one whose ``CHANNEL_HANGUP_COMPLETE`` never comes: a leg the
listener marks lost (the switch crashed or restarted while the connection was down: see
:meth:`EventListener.on_lost <switchio_lab.core.listener.EventListener.on_lost>`) gets a row
with ``lost`` set and the reason in ``lost_reason``. :meth:`CDR.follow` an Originator and
the calls it offered that never had a leg (the originate failed before the switch made a
channel, or its connection was lost first) get a row for their calling leg too, so the
CDR counts what the Originator counts. :meth:`CDR.drain` waits until every leg seen has
its row (before closing the run): the far leg's ``CHANNEL_HANGUP_COMPLETE`` may come well
after the calling leg is gone.

The columns and their dtypes are :data:`CDR_SCHEMA` (``(name, dtype, description)``;
dtypes are pandas dtype names, so :mod:`switchio_lab.measure` builds typed tables from
them). Rows hold plain Python values (``str``, ``int``, ``float``, ``bool`` or ``None``):
this module needs neither pandas nor pyarrow.

Times are float seconds since the Unix epoch (UTC), as in
:attr:`Session.times <switchio_lab.models.Session.times>`; durations are float seconds.

To measure the calls of another app, load the CDR under that app's id as the app itself
(a combined class: ``class Measured(MyApp, CDR)``, whose ``prepost`` calls both), since
one app id holds one app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from .. import marks
from ..core.registry import app

log = logging.getLogger("switchio_lab")

#: The name of the CDR table in a run directory (see :mod:`switchio_lab.measure`).
CDR_TABLE = "cdr"

_STR, _F64, _INT, _BOOL = "string", "float64", "Int64", "bool"

#: The CDR row schema, one ``(column, pandas dtype, description)`` per column, in order.
#: ``string`` and ``Int64`` are pandas' nullable dtypes (missing is ``<NA>``); ``float64``
#: columns use NaN for missing; ``bool`` columns are never missing.
CDR_SCHEMA: tuple[tuple[str, str, str], ...] = (
    # -- identity
    ("uuid", _STR, "the leg's uuid (Unique-ID)"),
    ("call_uuid", _STR, "switchio's call id: the call tracking variable (switchio_call), the "
                        "same on every leg of the call on every node; the leg's uuid if "
                        "untagged"),
    ("app_id", _STR, "the app id the leg was dispatched to"),
    ("direction", _STR, "inbound or outbound (Call-Direction)"),
    ("node", _STR, "the node's Event Socket host (Session.host)"),
    ("hostname", _STR, "the switch's hostname (FreeSWITCH-Hostname)"),
    ("destination", _STR, "the dialled number (Caller-Destination-Number)"),
    ("job_uuid", _STR, "the bgapi originate job that created the leg, if any"),
    # -- times (epoch seconds)
    ("create", _F64, "CHANNEL_CREATE (switch clock, as switchio recorded it)"),
    ("req_originate", _F64, "the originate was requested: Session.times['req_originate'] if "
                            "set, else the bgapi job's launch (client clock); calling leg "
                            "only"),
    ("originate", _F64, "CHANNEL_ORIGINATE, the switch's acknowledgement that it is "
                        "dialling (switch clock); outbound legs only"),
    ("progress", _F64, "first ringing (180) seen or sent (variable_progress_uepoch)"),
    ("progress_media", _F64, "first early media (183) (variable_progress_media_uepoch)"),
    ("answer", _F64, "CHANNEL_ANSWER (switch clock)"),
    ("hangup", _F64, "CHANNEL_HANGUP (switch clock)"),
    ("job_launch", _F64, "the bgapi originate was sent (client clock)"),
    ("job_result", _F64, "its BACKGROUND_JOB result arrived (client clock)"),
    # -- outcome
    ("answered", _BOOL, "whether the leg was answered"),
    ("hangup_cause", _STR, "the hangup cause (Hangup-Cause), e.g. NORMAL_CLEARING, USER_BUSY"),
    ("hangup_cause_q850", _INT, "its Q.850 code (variable_hangup_cause_q850)"),
    ("hangup_disposition", _STR, "who ended it and how (variable_sip_hangup_disposition: "
                                 "send_bye, recv_bye, recv_refuse, send_cancel ...)"),
    ("job_ok", _BOOL, "the originate job succeeded (+OK); False for -ERR or no job"),
    ("lost", _BOOL, "the leg's end was never seen: the listener marked it lost (the "
                    "connection was down when it ended, e.g. a switch crash), its row was "
                    "given up waiting for (CDR.drain), or its call was lost before the "
                    "switch made it (CDR.follow); hangup_cause is LOST unless a "
                    "CHANNEL_HANGUP told the cause"),
    ("lost_reason", _STR, "why the leg is lost (missing when it is not)"),
    # -- durations (seconds)
    ("pdd", _F64, "post-dial delay: from the leg's creation to the first of progress "
                  "(180), early media (183) or answer, on the switch's clock "
                  "(variable_*_uepoch); NaN if none came"),
    ("answer_delay", _F64, "from the leg's creation to its answer (switch clock); NaN if "
                           "unanswered"),
    ("billsec", _F64, "answer to hangup, microsecond precise (variable_billusec / 1e6); 0 "
                      "if unanswered"),
    ("duration", _F64, "creation to hangup (variable_uduration / 1e6)"),
    # -- media
    ("codec", _STR, "the audio codec (variable_rtp_use_codec_name)"),
    ("rtp_audio_in_mos", _F64, "MOS of the received audio (FreeSWITCH's formula)"),
    ("rtp_audio_in_quality_percentage", _F64, "quality percentage R behind the MOS"),
    ("rtp_audio_in_packet_count", _INT, "RTP packets received (media + DTMF)"),
    ("rtp_audio_in_media_packet_count", _INT, "audio packets received"),
    ("rtp_audio_in_skip_packet_count", _INT, "timer ticks with no packet received"),
    ("rtp_audio_in_jitter_min_variance", _F64, "jitter: minimum variance (ms)"),
    ("rtp_audio_in_jitter_max_variance", _F64, "jitter: maximum variance (ms)"),
    ("rtp_audio_in_jitter_loss_rate", _F64, "jitter buffer loss rate"),
    ("rtp_audio_in_jitter_burst_rate", _F64, "jitter buffer burst loss rate"),
    ("rtp_audio_in_mean_interval", _F64, "mean packet interval (ms)"),
    ("rtp_audio_in_flaw_total", _INT, "flaws: lost, late or out of order packets"),
    ("rtp_audio_out_packet_count", _INT, "RTP packets sent (media + DTMF)"),
    ("rtp_audio_out_media_packet_count", _INT, "audio packets sent"),
)

#: column -> pandas dtype name
CDR_DTYPES: dict[str, str] = {name: dtype for name, dtype, _ in CDR_SCHEMA}
#: the columns holding epoch times (seconds)
TIME_COLUMNS: tuple[str, ...] = ("create", "req_originate", "originate", "progress",
                                 "progress_media", "answer", "hangup", "job_launch",
                                 "job_result")
#: the RTP columns, read from ``variable_<column>``
_RTP_COLUMNS = tuple(name for name, _, _ in CDR_SCHEMA if name.startswith("rtp_"))

Sink = Callable[[dict[str, Any]], Any]


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _uepoch(value: Any) -> float | None:
    """A ``variable_*_uepoch`` (microseconds; 0 means never) in seconds."""
    number = _float(value)
    return number / 1e6 if number else None


def _since(start: float | None, *stamps: float | None) -> float | None:
    found = [t for t in stamps if t is not None]
    if start is None or not found:
        return None
    return max(0.0, min(found) - start)


@app
class CDR:
    """Call detail records: one row (a ``dict`` of :data:`CDR_SCHEMA`) per leg at hangup.

    ``prepost(client, sink=None, job_timeout=5.0)``: rows go to ``sink`` (a callable
    taking the row dict, e.g. ``writer.table("cdr")``, or a ``RunWriter`` itself), else
    to the list :attr:`rows`. Loading one instance on several clients shares its sink.
    """

    #: the table name and schema, for storage
    table = CDR_TABLE
    schema = CDR_SCHEMA

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.sink: Sink = self.rows.append
        self.job_timeout = 5.0
        self.count = 0  # rows made
        self.lost = 0  # of those, rows of lost legs
        self.sink_errors = 0
        self.closed = False
        self.late = 0  # rows that came after close(): not given to the sink
        #: legs seen (their CHANNEL_CREATE) whose row is not made yet: uuid -> Session
        self.open: dict[str, Any] = {}
        self._given_up: set[str] = set()  # legs drain() made lost rows for
        self._completing: set[str] = set()  # legs whose HANGUP_COMPLETE row is being made
        self._written: set[str] = set()  # legs that have their row: never a second one
        self.duplicates = 0  # second rows refused (see emit)
        self._changed: asyncio.Event | None = None

    def prepost(self, client: Any, sink: Sink | None = None, job_timeout: float = 5.0):
        """Set up: rows go to ``sink`` if given (a callable taking a row, or an object
        with a ``table(name, schema)`` method returning one, such as a ``RunWriter``: its
        ``cdr`` table); ``job_timeout`` bounds the wait for the originate job's result (0:
        do not wait). The client's listener tells the app of lost legs until it is
        unloaded."""
        if sink is not None:
            table = getattr(sink, "table", None)
            if not callable(sink) and callable(table):  # a RunWriter: its "cdr" table
                sink = table(CDR_TABLE, CDR_SCHEMA)
            if not callable(sink):
                raise TypeError(f"the CDR sink must be a callable taking a row dict, not "
                                f"{type(sink).__name__}")
            self.sink = sink
        self.job_timeout = job_timeout
        listener = getattr(client, "listener", None)
        remove = listener.on_lost(self.on_lost) if listener is not None else None
        yield
        if remove is not None:
            remove()

    @marks.callback("CHANNEL_CREATE")
    def on_create(self, sess: Any) -> None:
        """A leg exists: it is owed a row (see :meth:`drain`)."""
        if not self.closed:
            self.open[sess.uuid] = sess

    @marks.coroutine("CHANNEL_HANGUP_COMPLETE")
    async def on_hangup_complete(self, sess: Any) -> None:
        """Make the leg's row (after its originate job's result, if that is pending)."""
        job = sess.job
        if job is not None and not job.done() and self.job_timeout:
            # FreeSWITCH sends a failed originate's result just after this event; its end
            # is seen, so a connection lost meanwhile does not make it lost (on_lost)
            self._completing.add(sess.uuid)
            try:
                with contextlib.suppress(Exception):  # a timeout, a lost connection
                    await job.wait(self.job_timeout)
            finally:
                self._completing.discard(sess.uuid)
        if sess.uuid in self._given_up:  # drain() wrote it off already: no second row
            self._given_up.discard(sess.uuid)
            log.warning("CDR: leg %s ended after its row was written as lost", sess.uuid)
            return
        self._emit_once(self.row(sess))

    def on_lost(self, sess: Any, reason: str) -> None:
        """The listener marked ``sess`` lost: its end will never be seen; make its row
        now, marked lost."""
        if sess.uuid in self._given_up or sess.uuid in self._completing:
            return  # (its HANGUP_COMPLETE came: that row is on its way)
        self._emit_once(self.row(sess, lost=reason))

    def emit(self, row: dict[str, Any]) -> None:
        """Hand ``row`` to the sink (a failing sink is logged, never raised). After
        :meth:`close` rows are counted in :attr:`late` and dropped, with a warning."""
        uuid = row.get("uuid")
        self.open.pop(uuid, None)
        self._wake()
        if self.closed:
            self.late += 1
            log.warning("CDR: closed; the row of leg %s came too late and is dropped",
                        row.get("uuid"))
            return
        self.count += 1
        if uuid is not None:
            self._written.add(uuid)
        if row.get("lost"):
            self.lost += 1
        try:
            self.sink(row)
        except Exception:
            self.sink_errors += 1
            log.exception("CDR: the sink failed on the row for leg %s", row.get("uuid"))

    def _emit_once(self, row: dict[str, Any]) -> None:
        """:meth:`emit`, unless the leg has its row already: a leg has one row (a lost row
        and then the call's own, when a crash races the originate's result, would be two);
        a second one is counted in :attr:`duplicates` and dropped."""
        uuid = row.get("uuid")
        if uuid in self._written:
            self.duplicates += 1
            log.warning("CDR: leg %s has its row already; a second one is dropped", uuid)
            return
        self.emit(row)

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    # -- every leg its row ------------------------------------------------------------------
    def pending(self, app_ids: Iterable[str | None] | None = None) -> list[dict[str, Any]]:
        """The legs seen whose row is not made yet (of ``app_ids``' calls, if given):
        ``uuid``, ``call_uuid``, ``node``, ``direction``, ``app_id`` and ``state``
        (``up``, ``hungup``: its HANGUP_COMPLETE is awaited)."""
        wanted = set(app_ids) if app_ids is not None else None
        out = []
        for uuid, sess in self.open.items():
            if wanted is not None and sess.appname not in wanted:
                continue
            call = sess.call
            out.append({"uuid": uuid, "call_uuid": call.uuid if call is not None else uuid,
                        "node": sess.host, "direction": sess.get("Call-Direction"),
                        "app_id": sess.appname, "state": "hungup" if sess.hungup else "up"})
        return out

    async def drain(self, timeout: float = 10.0, *, app_ids: Iterable[str | None] | None = None,
                    clients: Iterable[Any] = (), give_up: bool = True
                    ) -> list[dict[str, Any]]:
        """Wait until every leg seen (of ``app_ids``' calls, if given) has its row, at
        most ``timeout`` seconds; return the legs still without one (empty: all in).

        Call it once the calls are over, before closing the sink: a far leg's
        CHANNEL_HANGUP_COMPLETE may come well after the calling leg is gone. ``clients``:
        first ask each of these (connected) clients one ``api`` round trip, so every event
        the switch sent before it (every leg created so far) has been read. With
        ``give_up`` (the default) the legs still missing at the end get a row now, marked
        lost (``lost_reason`` says so), so every leg has its row.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for client in clients:
            if getattr(client, "connected", False):
                with contextlib.suppress(Exception):
                    await client.api("status", timeout=max(0.1, deadline - loop.time()))
        self._changed = changed = asyncio.Event()
        try:
            while self.pending(app_ids):
                left = deadline - loop.time()
                if left <= 0:
                    break
                changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(left, 0.5))
        finally:
            if self._changed is changed:
                self._changed = None
        missing = self.pending(app_ids)
        if missing and give_up:
            reason = (f"no CHANNEL_HANGUP_COMPLETE within {timeout:g} s after the calls "
                      "ended (CDR.drain gave up)")
            for leg in missing:
                sess = self.open.get(leg["uuid"])
                if sess is not None:
                    self._given_up.add(sess.uuid)
                    self.emit(self.row(sess, lost=reason))
        return missing

    def close(self) -> None:
        """No more rows: those that still come are counted in :attr:`late`, not written."""
        self.closed = True
        self.open.clear()

    def follow(self, originator: Any) -> Callable[[], None]:
        """Give a row to every call ``originator`` offers that never had a leg.

        A call whose originate failed before the switch made a channel (a client-side
        error, ``SWITCH_CONGESTION`` ...) or whose connection was lost before the switch
        said anything has no leg, hence no row of its own: it gets one here, for its
        calling leg (``uuid`` and ``call_uuid`` are the call's, ``create`` is missing,
        ``hangup_cause`` is the failure's cause, or ``LOST`` with ``lost`` set for a lost
        call). Returns a function that stops following."""
        def seen(change: Any) -> None:
            if change.kind != "stat" or change.name not in ("failed", "lost", "cancelled"):
                return
            call = getattr(change, "call", None)
            if call is None or call.has_leg:
                return
            self._emit_once(self.unseen_row(call, change.detail, lost=change.name == "lost"))
        return originator.on_change(seen, kinds=["stat"])

    @staticmethod
    def unseen_row(call: Any, cause: str | None, lost: bool = False) -> dict[str, Any]:
        """The row of a call that never had a leg (see :meth:`follow`): ``call`` has
        ``uuid``, ``node``, ``app_id``, ``offered`` (epoch seconds) and ``destination``."""
        row: dict[str, Any] = dict.fromkeys(CDR_DTYPES)
        row.update({
            "uuid": call.uuid, "call_uuid": call.uuid, "app_id": call.app_id,
            "direction": "outbound", "node": call.node,
            "destination": getattr(call, "destination", None),
            "req_originate": call.offered, "answered": False,
            "hangup_cause": "LOST" if lost else (cause or "UNKNOWN"), "job_ok": False,
            "billsec": 0.0, "lost": lost,
            "lost_reason": (f"{cause}: the connection was lost before the switch answered "
                            "the originate" if lost else None),
        })
        return row

    @staticmethod
    def row(sess: Any, lost: str | None = None) -> dict[str, Any]:
        """The CDR row of session ``sess`` (which has hung up; ``lost``: the reason it is
        lost, its end never seen)."""
        get = sess.get
        times = sess.times
        job = sess.job
        call = sess.call
        created = times.get("create") or _uepoch(get("variable_start_uepoch"))
        hangup = times.get("hangup") or _uepoch(get("variable_end_uepoch"))
        start = _uepoch(get("variable_start_uepoch")) or created
        progress = _uepoch(get("variable_progress_uepoch"))
        progress_media = _uepoch(get("variable_progress_media_uepoch"))
        answered_at = _uepoch(get("variable_answer_uepoch")) or times.get("answer")
        answered = bool(sess.answered or answered_at)
        billusec = _float(get("variable_billusec"))
        if billusec is not None:
            billsec = billusec / 1e6
        elif answered_at and hangup:
            billsec = max(0.0, hangup - answered_at)
        else:
            billsec = 0.0
        uduration = _float(get("variable_uduration"))
        if uduration is not None:
            duration = uduration / 1e6
        else:
            duration = _since(created, hangup)
        job_launch = job.launch_time if job is not None else None
        req = times.get("req_originate") or job_launch
        row: dict[str, Any] = {
            "uuid": sess.uuid,
            "call_uuid": call.uuid if call is not None else sess.uuid,
            "app_id": sess.appname,
            "direction": get("Call-Direction"),
            "node": sess.host,
            "hostname": get("FreeSWITCH-Hostname"),
            "destination": get("Caller-Destination-Number"),
            "job_uuid": job.uuid if job is not None else None,
            "create": created,
            "req_originate": req,
            "originate": times.get("originate"),
            "progress": progress,
            "progress_media": progress_media,
            "answer": times.get("answer") or (answered_at if answered else None),
            "hangup": hangup,
            "job_launch": job_launch,
            "job_result": job.result_time if job is not None else None,
            "answered": answered,
            "hangup_cause": sess.cause or get("Hangup-Cause") or get("variable_hangup_cause")
            or ("LOST" if lost else None),
            "hangup_cause_q850": _int(get("variable_hangup_cause_q850")),
            "hangup_disposition": get("variable_sip_hangup_disposition"),
            "job_ok": bool(job is not None and job.successful),
            "lost": lost is not None,
            "lost_reason": lost,
            "pdd": _since(start, progress, progress_media, answered_at),
            "answer_delay": _since(start, answered_at),
            "billsec": billsec,
            "duration": duration,
            "codec": get("variable_rtp_use_codec_name"),
        }
        for name in _RTP_COLUMNS:
            value = get(f"variable_{name}")
            row[name] = _int(value) if CDR_DTYPES[name] == _INT else _float(value)
        return row


__all__ = ["CDR", "CDR_DTYPES", "CDR_SCHEMA", "CDR_TABLE", "TIME_COLUMNS"]
