"""Serializers for the commands a client sends (``auth``, ``api``, ``sendmsg`` ...).

Every function returns the exact bytes to write. Arguments that would break the
framing (a newline in a one-line command) raise :class:`ValueError` instead of being
sent: a stray newline would otherwise let one command smuggle in another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .events import FORMATS
from .requests import Request

#: ``execute-app-arg`` longer than this (bytes) goes in a ``text/plain`` body.
LONG_ARG = 2048


def _line(*parts: str) -> str:
    text = " ".join(p for p in parts if p != "")
    if "\n" in text or "\r" in text:
        raise ValueError(f"a newline in a command would break ESL framing: {text!r}")
    return text


def _frame(verb: str, *args: str, headers: Mapping[str, object] | None = None,
           body: bytes = b"") -> Request:
    """The :class:`Request` of ``verb args...`` (empty arguments left out)."""
    kept = tuple(a for a in args if a != "")
    line = _line(verb, *kept)
    out = [line]
    fields: dict[str, str] = {}
    for name, value in (headers or {}).items():
        value = str(value)
        if "\n" in value or "\r" in value or "\n" in name:
            raise ValueError(f"a newline in header {name!r} would break ESL framing")
        out.append(f"{name}: {value}")
        fields[name] = value
    if body:
        out.append(f"Content-Length: {len(body)}")
    return Request(("\n".join(out) + "\n\n").encode("utf-8") + body, verb, kept, fields)


def _split(cmd: str, args: str) -> tuple[str, ...]:
    """An api command's name and the rest of its line, as :class:`Request` keeps them."""
    name, _, rest = _line(cmd, args).partition(" ")
    return (name, rest) if rest else (name,)


def command(line: str, headers: Mapping[str, object] | None = None,
            body: bytes = b"") -> Request:
    """Any command: one line, optional headers, optional body."""
    verb, _, rest = _line(line).partition(" ")
    if verb in ("api", "bgapi") and rest:
        return _frame(verb, *_split(rest, ""), headers=headers, body=body)
    return _frame(verb, *rest.split(" "), headers=headers, body=body)


def auth(password: str) -> Request:
    return _frame("auth", _line(password))


def api(cmd: str, args: str = "") -> Request:
    """``api <cmd> [args]``: the reply is an ``api/response`` frame."""
    return _frame("api", *_split(cmd, args))


def bgapi(cmd: str, args: str = "", job_uuid: str | None = None) -> Request:
    """``bgapi <cmd> [args]`` with an optional client-chosen ``Job-UUID`` header."""
    return _frame("bgapi", *_split(cmd, args),
                  headers={"Job-UUID": job_uuid} if job_uuid else None)


def _names(names: Iterable[str]) -> list[str]:
    out = []
    for name in names:
        out.extend(name.split())
    return out


def _fmt(format: str) -> str:
    if format not in FORMATS:
        raise ValueError(f"unknown event format {format!r}; expected one of {FORMATS}")
    return format


def event(*names: str, format: str = "plain") -> Request:
    """``event <format> <names...>`` (``CUSTOM`` subclasses follow ``CUSTOM``)."""
    return _frame("event", _fmt(format), *_names(names))


def nixevent(*names: str) -> Request:
    return _frame("nixevent", *_names(names))


def noevents() -> Request:
    return _frame("noevents")


def filter(header: str, value: str) -> Request:
    """``filter <header> <value>``: only events whose header matches pass."""
    return _frame("filter", header, value)


def filter_delete(header: str, value: str | None = None) -> Request:
    """``filter delete <header> [<value>]`` (``filter delete all`` removes every filter)."""
    return _frame("filter delete", header, value or "")


def myevents(uuid: str | None = None, format: str | None = None) -> Request:
    """``myevents [<uuid>] [<format>]``: the events of one session only."""
    return _frame("myevents", uuid or "", _fmt(format) if format else "")


def divert_events(on: bool = True) -> Request:
    return _frame("divert_events", "on" if on else "off")


def linger(seconds: int | None = None) -> Request:
    return _frame("linger", "" if seconds is None else str(int(seconds)))


def nolinger() -> Request:
    return _frame("nolinger")


def log(level: int | str | None = None) -> Request:
    return _frame("log", "" if level is None else str(level))


def nolog() -> Request:
    return _frame("nolog")


def exit() -> Request:
    return _frame("exit")


def connect() -> Request:
    """The first command on an outbound (``socket`` app) connection."""
    return _frame("connect")


def getvar(name: str) -> Request:
    """``getvar <name>`` (outbound mode)."""
    return _frame("getvar", name)


def resume() -> Request:
    return _frame("resume")


def sendevent(name: str, headers: Mapping[str, object] | None = None, body: str = "") -> Request:
    """``sendevent <NAME>`` with event headers and an optional body."""
    return _frame("sendevent", name, headers=headers, body=body.encode("utf-8"))


def sendmsg(
    uuid: str | None = None,
    call_command: str = "execute",
    headers: Mapping[str, object] | None = None,
    body: str = "",
) -> Request:
    """``sendmsg [<uuid>]`` with ``call-command`` and its headers."""
    all_headers: dict[str, object] = {"call-command": call_command}
    all_headers.update(headers or {})
    data = body.encode("utf-8")
    if data:
        all_headers.setdefault("content-type", "text/plain")
    return _frame("sendmsg", uuid or "", headers=all_headers, body=data)


def execute(
    app: str,
    arg: str = "",
    uuid: str | None = None,
    *,
    event_lock: bool = False,
    async_: bool = False,
    loops: int | None = None,
    event_uuid: str | None = None,
) -> Request:
    """``sendmsg`` to execute dialplan application ``app``.

    An argument longer than :data:`LONG_ARG` bytes or containing a newline travels in a
    ``text/plain`` body, as FreeSWITCH expects; ``event_uuid`` tags the resulting
    CHANNEL_EXECUTE/EXECUTE_COMPLETE events (``Application-UUID``).
    """
    headers: dict[str, object] = {"execute-app-name": _line(app)}
    body = ""
    if arg:
        if len(arg.encode("utf-8")) > LONG_ARG or "\n" in arg or "\r" in arg:
            body = arg
        else:
            headers["execute-app-arg"] = arg
    if loops is not None:
        headers["loops"] = int(loops)
    if event_lock:
        headers["event-lock"] = "true"
    if async_:
        headers["async"] = "true"
    if event_uuid:
        headers["Event-UUID"] = event_uuid
    return sendmsg(uuid, "execute", headers, body)


def hangup(uuid: str | None = None, cause: str = "NORMAL_CLEARING") -> Request:
    """``sendmsg`` with ``call-command: hangup``."""
    return sendmsg(uuid, "hangup", {"hangup-cause": cause})
