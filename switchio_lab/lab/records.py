"""How a log record reads as text: its name, a one-line label and summary, its details.

The inspector's list and detail view, the ladder's marks and arrows and
:func:`~switchio_lab.lab.ladder.ladder_text` all describe records the same way:
:func:`record_label` (an event's name, ``→ api uuid_answer 5b7c0e01…`` for a command),
:func:`summary` (an event's key headers, ``Hangup-Cause=NORMAL_CLEARING``),
:func:`command_label` and :func:`details_html` (every header, variable and body, as HTML).
Full uuids are cut to their first 8 characters.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..esl.requests import Request

__all__ = ["command_label", "details_html", "record_label", "summary"]

#: The headers worth a glance, per event name (the first present is shown in the list).
_SUMMARY_HEADERS: dict[str, tuple[str, ...]] = {
    "CHANNEL_STATE": ("Channel-State",),
    "CHANNEL_CALLSTATE": ("Channel-Call-State",),
    "CHANNEL_ANSWER": ("Answer-State",),
    "CHANNEL_PROGRESS": ("Answer-State",),
    "CHANNEL_PROGRESS_MEDIA": ("Answer-State",),
    "CHANNEL_HANGUP": ("Hangup-Cause",),
    "CHANNEL_HANGUP_COMPLETE": ("Hangup-Cause",),
    "CHANNEL_DESTROY": ("Hangup-Cause", "Channel-State"),
    "CHANNEL_EXECUTE": ("Application",),
    "CHANNEL_EXECUTE_COMPLETE": ("Application",),
    "CHANNEL_BRIDGE": ("Other-Leg-Unique-ID",),
    "CHANNEL_UNBRIDGE": ("Other-Leg-Unique-ID",),
    "BACKGROUND_JOB": ("Job-Command",),
    "API": ("API-Command",),
    "DTMF": ("DTMF-Digit",),
    "CUSTOM": ("Event-Subclass",),
    "PLAYBACK_START": ("Playback-File-Path",),
    "PLAYBACK_STOP": ("Playback-Status",),
    "RECORD_START": ("Record-File-Path",),
    "RECORD_STOP": ("Record-File-Path",),
}
_DEFAULT_SUMMARY = ("Channel-State", "Answer-State", "Hangup-Cause", "Application")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{12}")
#: Headers by which an event of one channel points at another channel.
_LINK_HEADERS = ("Other-Leg-Unique-ID", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID",
                 "Channel-Call-UUID", "variable_origination_uuid", "variable_bridge_uuid")


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


def _short(uuid: str | None) -> str:
    """The first 8 characters of a uuid; a short client-chosen id (``lab-call-1``) whole."""
    if not uuid:
        return ""
    return uuid if len(uuid) <= 12 else uuid[:8]


def _shorten_uuids(text: str) -> str:
    return _UUID_RE.sub(lambda m: m.group(0)[:8] + "…", text)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def summary(record: Any) -> str:
    """A short ``Header=value`` summary of an event record's key headers ('' if none).

    ``CHANNEL_STATE`` shows its ``Channel-State``, ``CHANNEL_HANGUP`` its
    ``Hangup-Cause``, ``CHANNEL_EXECUTE`` its ``Application`` (and its data), and so on.
    """
    ev = record.event
    if ev is None:
        return ""
    name = ev.name
    parts = []
    for header in _SUMMARY_HEADERS.get(name, _DEFAULT_SUMMARY):
        value = ev.get(header)
        if value:
            parts.append(f"{header}={_shorten_uuids(value)}")
            if name not in _SUMMARY_HEADERS:
                break  # the default list: the first one present says enough
    if name.startswith("CHANNEL_EXECUTE") and ev.get("Application-Data"):
        parts.append(_clip(ev.get("Application-Data", ""), 40))
    elif name == "CHANNEL_CALLSTATE" and ev.get("Original-Channel-Call-State"):
        parts[-1:] = [f"Channel-Call-State={ev.get('Original-Channel-Call-State')}"
                      f"→{ev.get('Channel-Call-State', '')}"]
    elif name == "BACKGROUND_JOB":
        parts.append(_clip(_shorten_uuids(_first_line(ev.body)), 40))
    elif name == "API" and ev.get("API-Command-Argument"):
        parts.append(_clip(_shorten_uuids(ev.get("API-Command-Argument", "")), 40))
    return " ".join(parts)


def _event_name(record: Any) -> str:
    """The name a record goes by: :attr:`EventRecord.key` (an event's ``Event.key``)."""
    return record.key


def command_label(command: str | Request) -> str:
    """A one-line label of a command: ``api uuid_answer 5b7c0e01…``, ``sendmsg execute playback``.

    ``command`` is a :class:`~switchio_lab.esl.requests.Request` (what a record keeps) or
    its text. A ``sendmsg`` shows its ``call-command`` and application (and argument)
    instead of its uuid; full uuids are cut to their first 8 characters.
    """
    if not isinstance(command, Request):
        text = (command or "").strip()
        command = Request.parse((text + "\n\n").encode("utf-8"))
    if command.verb == "sendmsg":
        h = command.headers
        words = ["sendmsg", h.get("call-command", ""), h.get("execute-app-name", ""),
                 h.get("execute-app-arg", ""), h.get("hangup-cause", "")]
        return _shorten_uuids(" ".join(w for w in words if w))
    return _shorten_uuids(command.line.strip())


def record_label(record: Any) -> str:
    """The name column of a record: the event name, or the command/reply/frame's text."""
    if record.kind == "event":
        return _event_name(record)
    if record.kind == "command":
        return "→ " + command_label(_request(record) or record.text or record.name)
    if record.kind == "reply":
        return "← " + _shorten_uuids(_first_line(record.text) or record.name)
    return _first_line(record.text) or record.name or record.kind


def _fmt_time(t: float, origin: float | None = None) -> str:
    if origin is not None:
        return f"+{t - origin:.3f}"
    if t > 1e8:  # wall-clock seconds since the epoch
        return datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]
    return f"{t:.3f}"


# -- the detail view -----------------------------------------------------------------------


def _table(items: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f'<tr><td class="h">{html.escape(k)}</td><td>{html.escape(v)}</td></tr>'
                   for k, v in items)
    return f"<table>{rows}</table>"


def details_html(rec: Any) -> str:
    """The inspector's detail view of one record: its headers, variables and body as HTML."""
    title = (f"<b>{html.escape(record_label(rec))}</b> · {html.escape(rec.kind)} · "
             f"{html.escape(rec.node or '')} · {_fmt_time(rec.time)}"
             + (f" · <code>{html.escape(rec.uuid)}</code>" if rec.uuid else ""))
    ev = rec.event
    if ev is None:
        return f"<div>{title}</div><pre>{html.escape(rec.text or '')}</pre>"
    headers = ev.headers
    plain = [(k, v) for k, v in headers.items() if not k.startswith("variable_")]
    variables = [(k[len("variable_"):], v) for k, v in headers.items()
                 if k.startswith("variable_")]
    parts = [f"<div>{title}</div>", _table(plain)]
    if variables:
        parts.append(f"<details><summary>channel variables ({len(variables)})</summary>"
                     f"{_table(variables)}</details>")
    if ev.body:
        parts.append(f"<div><b>body</b></div><pre>{html.escape(ev.body)}</pre>")
    return "".join(parts)


def _request(record: Any) -> Request | None:
    """The structured command a record keeps (records built by hand may have none)."""
    return getattr(record, "request", None)
