"""Serializers for what a server sends (the embedded switch's side)."""

from __future__ import annotations

from collections.abc import Mapping

from .events import PLAIN, Event

GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
ACCESS_DENIED = "Access Denied, go away.\n"


def _frame(headers: Mapping[str, object], body: bytes = b"") -> bytes:
    text = "".join(f"{k}: {v}\n" for k, v in headers.items())
    return (text + "\n").encode("utf-8") + body


def auth_request() -> bytes:
    return b"Content-Type: auth/request\n\n"


def command_reply(text: str, headers: Mapping[str, object] | None = None) -> bytes:
    """``command/reply`` with ``Reply-Text`` (and e.g. ``Job-UUID``) headers."""
    return _frame({"Content-Type": "command/reply", "Reply-Text": text, **(headers or {})})


def api_response(body: str) -> bytes:
    data = body.encode("utf-8")
    return _frame({"Content-Type": "api/response", "Content-Length": len(data)}, data)


def event(ev: Event, format: str = PLAIN) -> bytes:
    """An event frame in ``format`` (plain, json or xml)."""
    return ev.to_frame(format)


def log_data(text: str, level: int, channel: int = 3, file: str = "", func: str = "",
             line: int = 0, user_data: str = "") -> bytes:
    data = text.encode("utf-8")
    return _frame({
        "Content-Type": "log/data", "Content-Length": len(data), "Log-Level": level,
        "Text-Channel": channel, "Log-File": file, "Log-Func": func, "Log-Line": line,
        "User-Data": user_data,
    }, data)


def disconnect_notice(session_uuid: str | None = None) -> bytes:
    """The final ``text/disconnect-notice`` with FreeSWITCH's goodbye body."""
    data = GOODBYE.encode()
    headers: dict[str, object] = {"Content-Type": "text/disconnect-notice"}
    if session_uuid:
        headers["Controlled-Session-UUID"] = session_uuid
        headers["Content-Disposition"] = "disconnect"
    headers["Content-Length"] = len(data)
    return _frame(headers, data)


def linger_notice(session_uuid: str, channel_name: str, linger_time: int) -> bytes:
    """The notice a lingering connection gets when its session hangs up."""
    return _frame({
        "Content-Type": "text/disconnect-notice", "Controlled-Session-UUID": session_uuid,
        "Content-Disposition": "linger", "Channel-Name": channel_name,
        "Linger-Time": linger_time, "Content-Length": 0,
    })


def rude_rejection() -> bytes:
    """Sent to a peer that is not on the access list, before closing."""
    data = ACCESS_DENIED.encode()
    return _frame({"Content-Type": "text/rude-rejection", "Content-Length": len(data)}, data)


def connect_reply(channel_data: Event, mode: str = "async", control: str = "full") -> bytes:
    """Reply to ``connect`` on an outbound socket: the channel's data, URL-encoded."""
    head = channel_data.serialize(PLAIN).rstrip(b"\n").decode("utf-8") + "\n"
    tail = _frame({"Content-Type": "command/reply", "Reply-Text": "%2BOK%0A",
                   "Socket-Mode": mode, "Control": control})
    return head.encode("utf-8") + tail
