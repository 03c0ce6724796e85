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

import contextlib
import logging
from collections.abc import Callable
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
        self.sink_errors = 0

    def prepost(self, client: Any, sink: Sink | None = None, job_timeout: float = 5.0
                ) -> None:
        """Set up: rows go to ``sink`` if given (a callable taking a row, or an object
        with a ``table(name, schema)`` method returning one, such as a ``RunWriter``: its
        ``cdr`` table); ``job_timeout`` bounds the wait for the originate job's result (0:
        do not wait)."""
        del client  # each session knows its client (the node is Session.host)
        if sink is not None:
            table = getattr(sink, "table", None)
            if not callable(sink) and callable(table):  # a RunWriter: its "cdr" table
                sink = table(CDR_TABLE, CDR_SCHEMA)
            if not callable(sink):
                raise TypeError(f"the CDR sink must be a callable taking a row dict, not "
                                f"{type(sink).__name__}")
            self.sink = sink
        self.job_timeout = job_timeout

    @marks.coroutine("CHANNEL_HANGUP_COMPLETE")
    async def on_hangup_complete(self, sess: Any) -> None:
        """Make the leg's row (after its originate job's result, if that is pending)."""
        job = sess.job
        if job is not None and not job.done() and self.job_timeout:
            # FreeSWITCH sends a failed originate's result just after this event
            with contextlib.suppress(Exception):  # a timeout, a lost connection
                await job.wait(self.job_timeout)
        self.emit(self.row(sess))

    def emit(self, row: dict[str, Any]) -> None:
        """Hand ``row`` to the sink (a failing sink is logged, never raised)."""
        self.count += 1
        try:
            self.sink(row)
        except Exception:
            self.sink_errors += 1
            log.exception("CDR: the sink failed on the row for leg %s", row.get("uuid"))

    @staticmethod
    def row(sess: Any) -> dict[str, Any]:
        """The CDR row of session ``sess`` (which has hung up)."""
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
            "hangup_cause": sess.cause or get("Hangup-Cause") or get("variable_hangup_cause"),
            "hangup_cause_q850": _int(get("variable_hangup_cause_q850")),
            "hangup_disposition": get("variable_sip_hangup_disposition"),
            "job_ok": bool(job is not None and job.successful),
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
