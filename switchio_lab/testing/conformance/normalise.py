"""Normalising what differs by nature between two runs: uuids, times, host facts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from ...esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    Frame,
)
from .replay import _short
from .scenario import UUID_RE, ChannelMap


# -- normalisation ------------------------------------------------------------------------------
class _Norm:
    """Per side: channel UUIDs -> lane labels, host facts -> placeholders."""

    def __init__(self, chmap: ChannelMap, known_labels: Iterable[str],
                 hosts: Iterable[str]) -> None:
        known = set(known_labels)
        self.labels = {u.lower(): (lab if lab in known else f"extra:{lab}")
                       for u, lab in chmap.labels.items()}
        self.hosts = sorted({h for h in hosts if h}, key=len, reverse=True)

    def uuids(self, text: str) -> str:
        others: dict[str, str] = {}

        def sub(m: re.Match[str]) -> str:
            u = m.group(0).lower()
            label = self.labels.get(u)
            if label is not None:
                return f"<{label}>"
            return others.setdefault(u, f"<uuid{len(others) + 1}>")

        return UUID_RE.sub(sub, text)

    def text(self, text: str) -> str:
        t = self.uuids(text)
        t = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "<date>", t)
        t = re.sub(r"\b[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\b", "<date>", t)
        t = re.sub(r"(?<![\d.])\d{16}(?![\d.])", "<usec>", t)
        t = re.sub(r"(?<![\d.])1\d{9}(?![\d.])", "<epoch>", t)
        t = re.sub(r"(?<![\d.])\d{1,3}(\.\d{1,3}){3}(?![\d.])", "<ip>", t)
        for h in self.hosts:
            t = re.sub(rf"(?<![\w.-]){re.escape(h)}(?![\w-])", "<hostname>", t)
        return t


def _host_facts(frames: Iterable[tuple[float, Frame]]) -> set[str]:
    out: set[str] = set()
    events = (f.event for _, f in frames if f.is_event and f.event is not None)
    for ev in list(events)[:20]:
        out.update(v for v in (ev.get("FreeSWITCH-Hostname"), ev.get("FreeSWITCH-Switchname"))
                   if v)
    return out


def _api_name(line: str) -> tuple[str, str]:
    """(command, args) of an ``api``/``bgapi`` command line."""
    words = line.split(None, 2)
    if len(words) >= 2 and words[0] in ("api", "bgapi"):
        return words[1], words[2] if len(words) > 2 else ""
    return "", ""


def normalise_body(command: str, args: str, body: str, norm: _Norm) -> str:
    """An api body with what may differ between two correct runs normalised away."""
    if command == "uuid_dump":
        keys = sorted({line.split(":", 1)[0] for line in body.splitlines() if ": " in line})
        return "\n".join(keys)
    t = norm.text(body)
    if command in ("status", "uptime"):
        # FreeSWITCH says "1 second" but "2 seconds": the plural follows the number
        t = re.sub(r"\d+ (year|day|hour|minute|second|millisecond|microsecond)s?\b",
                   r"N \1(s)", t)
        t = re.sub(r"\d+", "N", t)
    elif command == "sofia":
        t = re.sub(r"RUNNING \(\d+\)", "RUNNING (N)", t)
        t = re.sub(r"(?m)^((?:FAILED-)?CALLS-(?:IN|OUT)|REGISTRATIONS)(\s+)\d+", r"\1\2N", t)
    elif command == "show":
        t = _normalise_table(t)
    return t


def _normalise_table(t: str) -> str:
    s = t.strip()
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except ValueError:
            return t
        if isinstance(obj, dict) and isinstance(obj.get("rows"), list):
            obj["rows"] = sorted(obj["rows"], key=lambda r: json.dumps(r, sort_keys=True))
        return json.dumps(obj, indent=1)
    lines = t.split("\n")
    if not lines or "," not in lines[0]:
        return t
    rows = sorted(x for x in lines[1:] if "," in x)
    rest = [x for x in lines[1:] if "," not in x]
    return "\n".join([lines[0], *rows, *rest])


def _reply_text(frame: Frame | None, norm: _Norm) -> str:
    if frame is None:
        return "<nothing>"
    if frame.content_type == COMMAND_REPLY:
        text = norm.uuids(frame.reply_text)
        if "Unique-ID" not in frame.headers:  # the connect reply's headers are an event
            extra = sorted(set(frame.headers) - {"Content-Type", "Reply-Text", "Content-Length"})
            if extra:
                text += " {" + ",".join(extra) + "}"
        return text
    if frame.content_type == API_RESPONSE:
        return "<api/response> " + _short(norm.uuids(frame.text), 50)
    return f"<{frame.content_type}>"


def _notice_text(frame: Frame | None, norm: _Norm) -> str:
    if frame is None:
        return "<nothing>"
    h = frame.headers
    parts = [frame.content_type]
    if "Content-Disposition" in h:
        parts.append(f"disposition={h['Content-Disposition']}")
    if "Linger-Time" in h:
        parts.append(f"linger={h['Linger-Time']}")
    names = sorted(set(h) - {"Content-Type", "Content-Length"})
    if names:
        parts.append("headers=" + ",".join(names))
    if frame.body:
        parts.append("body=" + repr(norm.uuids(frame.text)))
    return " ".join(parts)
