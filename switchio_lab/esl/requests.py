"""A serialized command that remembers what it says: :class:`Request`.

Every serializer in :mod:`~switchio_lab.esl.commands` returns a :class:`Request`: the
exact bytes to write (it *is* ``bytes``), plus the structure they were built from
(``verb``, ``args``, ``headers``) and what follows from it (``name``, ``uuid``,
``job_uuid``, a password-free ``label``). Whoever records or shows a command reads
these attributes; nobody re-parses the wire text. :meth:`Request.parse` reads bytes
built by hand back into a :class:`Request` (it is what the embedded switch's
:class:`~switchio_lab.esl.CommandParser` would see).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_ORIGINATION_UUID = re.compile(r"origination_uuid=([^,}\s]+)")
#: commands whose argument is a secret: never shown, logged or recorded
SECRET_VERBS = frozenset({"auth", "userauth"})
MASK = "********"
LABEL_WIDTH = 120


class Request(bytes):
    """The bytes of one command, with its ``verb``, ``args`` and ``headers``.

    ``name`` is how the command is called in logs and event records (``api originate``,
    ``sendmsg execute playback``, ``event plain``); ``uuid`` the channel it is about
    (a ``sendmsg``'s or ``myevents``' target, a ``uuid_*`` api command's first argument,
    an originate's ``origination_uuid``); ``job_uuid`` a ``bgapi``'s Job-UUID.
    """

    verb: str
    args: tuple[str, ...]
    headers: Mapping[str, str]

    def __new__(cls, data: bytes, verb: str, args: tuple[str, ...] = (),
                headers: Mapping[str, str] | None = None) -> Request:
        self = super().__new__(cls, data)
        self.verb = verb
        self.args = (MASK,) if verb in SECRET_VERBS else args
        self.headers = headers or {}
        return self

    # -- what it says --------------------------------------------------------------------
    @property
    def secret(self) -> bool:
        """True if the command carries a password (its text is never shown)."""
        return self.verb in SECRET_VERBS

    def masked(self) -> Request:
        """This request, or for ``auth``: one whose bytes hold ``********`` for the password
        (what observers, logs and records get)."""
        if not self.secret:
            return self
        return Request(f"{self.verb} {MASK}\n\n".encode(), self.verb, (MASK,), self.headers)

    @property
    def line(self) -> str:
        """The command line, with a password masked."""
        if self.secret:
            return f"{self.verb} {MASK}"
        return " ".join((self.verb, *self.args))

    @property
    def label(self) -> str:
        """The command line for an error message: masked, and cut to 120 characters."""
        line = self.line
        return line if len(line) <= LABEL_WIDTH else line[:LABEL_WIDTH - 3] + "..."

    @property
    def text(self) -> str:
        """The whole command as text (a password masked), without the final blank line."""
        if self.secret:
            return self.line
        return self.decode("utf-8", "replace").rstrip("\n")

    @property
    def name(self) -> str:
        """The command's name in records: its verb and what kind of thing it asks for."""
        verb, args = self.verb, self.args
        if verb in ("api", "bgapi") and args:
            return f"{verb} {args[0]}"
        if verb == "sendmsg":
            name = f"sendmsg {self.headers.get('call-command', '')}".rstrip()
            app = self.headers.get("execute-app-name")
            return f"{name} {app}" if app else name
        if verb in ("event", "filter", "nixevent") and args:
            return f"{verb} {args[0]}"
        return verb

    @property
    def uuid(self) -> str | None:
        """The channel the command is about, if it names one."""
        verb, args = self.verb, self.args
        if verb in ("api", "bgapi") and args:
            if args[0].startswith("uuid_") and len(args) > 1:
                return args[1].split(" ", 1)[0] or None
            if args[0] == "originate" and len(args) > 1:
                m = _ORIGINATION_UUID.search(args[1])
                return m.group(1) if m else None
            return None
        if verb == "sendmsg":
            return args[0] if args and args[0] else None
        if verb == "myevents" and args and len(args[0]) > 20:
            return args[0]
        return None

    @property
    def job_uuid(self) -> str | None:
        """A ``bgapi``'s Job-UUID header, if it has one."""
        return self.headers.get("Job-UUID")

    def __repr__(self) -> str:
        return f"<Request {self.label!r}>"

    def __reduce__(self):  # copy/pickle: the same bytes and structure
        return (type(self), (bytes(self), self.verb, self.args, dict(self.headers)))

    # -- from bytes ----------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes) -> Request:
        """The :class:`Request` of serialized command bytes (a :class:`Request` as is)."""
        if isinstance(data, Request):
            return data
        head, _, _ = bytes(data).partition(b"\n\n")
        line, *rest = head.decode("utf-8", "replace").split("\n")
        headers = {}
        for extra in rest:
            key, sep, value = extra.partition(":")
            if sep:
                headers[key.strip()] = value.strip()
        words = line.strip().split(" ")
        return cls(data, words[0], tuple(_args(words[0], words[1:])), _Headers(headers))


def _args(verb: str, words: list[str]) -> list[str]:
    """Arguments as the serializers keep them: ``api``'s command, then the rest whole."""
    if verb in ("api", "bgapi") and words:
        rest = " ".join(words[1:])
        return [words[0], rest] if rest else [words[0]]
    return words


class _Headers(dict):
    """Headers read back from bytes: looked up case-insensitively, as FreeSWITCH does."""

    def get(self, key, default=None):  # type: ignore[override]
        if key in self:
            return self[key]
        low = key.lower()
        for name, value in self.items():
            if name.lower() == low:
                return value
        return default
