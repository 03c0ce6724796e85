"""ESL events: one read-only mapping of headers plus a body, for plain, JSON and XML.

Header access is the hot path (most consumers read a handful of ~100 headers), so a
plain event is kept as its raw bytes and each header is found with a byte search the
first time it is asked for; the whole header table is only built when iterated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from sys import intern as _intern
from typing import Any
from urllib.parse import unquote_to_bytes as _unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape as _xml_escape

from .encoding import url_decode, url_encode
from .errors import EventDecodeError, ProtocolError

PLAIN, JSON, XML = "plain", "json", "xml"
FORMATS = (PLAIN, JSON, XML)
CONTENT_TYPES = {PLAIN: "text/event-plain", JSON: "text/event-json", XML: "text/event-xml"}

_keys: dict[str, tuple[bytes, bytes, int]] = {}


def _key(name: str) -> tuple[bytes, bytes, int]:
    """(``b"Name: "``, ``b"\\nName: "``, prefix length), memoised per header name."""
    try:
        return _keys[name]
    except KeyError:
        head = name.encode("utf-8") + b": "
        k = _keys[name] = (head, b"\n" + head, len(head))
        if len(_keys) > 4096:  # unbounded header names (e.g. many variable_*) stay cheap
            _keys.clear()
        return k


_MISSING: Any = object()
_new = object.__new__
#: ``Event-Name`` value bytes -> the interned name (one lookup per event off the wire)
_names: dict[bytes, str] = {}
_XML_CR = {"\r": "&#xD;"}  # switch_xml_ampencode's escape (a raw CR would be read back as LF)


class Event(Mapping[str, str]):
    """One FreeSWITCH event: ``event["Unique-ID"]``, ``event.get(...)``, ``event.body``.

    Headers are URL-decoded and decoded as UTF-8 leniently (bad bytes become U+FFFD);
    header names are case-sensitive, as FreeSWITCH writes them. The same headers and
    body come out of the plain, JSON and XML encodings of one event.
    """

    __slots__ = ("_raw", "format", "_cache", "_table", "_split", "_split_exact", "_body", "_key",
                 "_miss")

    def __init__(self, raw: bytes, format: str = PLAIN) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown event format {format!r}; expected one of {FORMATS}")
        self._raw = raw
        self.format = format
        self._cache: dict[str, str] = {}
        self._table: dict[str, str] | None = None
        self._split = -1  # header lines are known to extend at least this far
        self._split_exact = False
        self._body: str | None = None
        self._key: str | None = None
        self._miss: set[str] | None = None  # plain header names known to be absent

    @classmethod
    def from_wire(cls, raw: bytes) -> Event:
        """A plain event from its frame body, as the parser makes them: ``Event-Name``
        (FreeSWITCH writes it first) is read here, once, and with it the event's key."""
        ev = _new(cls)
        ev._raw = raw
        ev.format = PLAIN
        ev._table = None
        ev._split = -1
        ev._split_exact = False
        ev._body = None
        ev._miss = None
        if raw.startswith(b"Event-Name: "):
            j = raw.find(b"\n", 12)
            value = raw[12:j] if j >= 0 else raw[12:]
            name = _names.get(value)
            if name is None:
                name = _name(value)
            ev._cache = {"Event-Name": name}
            ev._key = None if name == "CUSTOM" else name
        else:
            ev._cache = {}
            ev._key = None
        return ev

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_headers(cls, headers: Mapping[str, Any], body: str | bytes = "") -> Event:
        """Build an event from decoded header values (the embedded switch's and tests' way)."""
        ev = cls.__new__(cls)
        ev._raw = b""
        ev.format = PLAIN
        ev._cache = {}
        ev._key = None
        ev._miss = None
        table = {str(k): str(v) for k, v in headers.items()}
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if body:
            body = _replace(body)  # a lone surrogate cannot go on the wire: U+FFFD
            table["Content-Length"] = str(len(body.encode("utf-8")))
        else:
            table.pop("Content-Length", None)
        ev._table = table
        ev._split = 0
        ev._split_exact = True
        ev._body = body
        return ev

    # -- hot path -----------------------------------------------------------------
    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """Value of header ``name`` or ``default``."""
        value = self._cache.get(name)
        if value is not None:
            return value
        if self._table is not None:
            return self._table.get(name, default)
        if self.format != PLAIN:
            return self._headers().get(name, default)
        miss = self._miss
        if miss is not None and name in miss:  # looked for before: no second scan
            return default
        raw = self._raw
        k = _keys.get(name)
        head, nlhead, n = k if k is not None else _key(name)
        if raw.startswith(head):
            i = n
        else:
            i = raw.find(nlhead)
            if i < 0 or (i > self._split and not self._in_headers(i)):
                if miss is None:
                    miss = self._miss = set()
                if len(miss) < 256:
                    miss.add(name)
                return default
            i += n + 1
        j = raw.find(b"\n", i)
        value = raw[i:j] if j >= 0 else raw[i:]
        value = (_unquote(value) if b"%" in value else value).decode("utf-8", "replace")
        if len(value) < 48:  # names, states, uuids: one string however many events hold it
            value = _intern(value)
        self._cache[name] = value
        return value

    def decoded(self) -> Mapping[str, str]:
        """The headers decoded so far: those read with :meth:`get` (all of them once the
        whole table was built). A read-only view; for whoever keeps values beyond the
        event's life without keeping its bytes."""
        return self._table if self._table is not None else self._cache

    def _in_headers(self, i: int) -> bool:
        """Whether offset ``i`` of a plain event lies in its header lines (not its body).

        ``_split`` grows as offsets are verified: a body can only start after a
        ``Content-Length`` line (FreeSWITCH writes it last), so a stretch free of one is
        all headers. The exact end is computed only for events that have a body.
        """
        raw = self._raw
        if self._split_exact:
            return i < self._split
        if raw.find(b"\nContent-Length: ", max(self._split, 0), i) < 0:
            self._split = i
            return True
        self._split = _header_end(raw)
        self._split_exact = True
        return i < self._split

    def __getitem__(self, name: str) -> str:
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name, _MISSING) is not _MISSING

    # -- common headers -----------------------------------------------------------
    @property
    def name(self) -> str:
        """``Event-Name`` (``CUSTOM`` events also have :attr:`subclass`)."""
        name = self._cache.get("Event-Name")
        return name if name is not None else self.get("Event-Name", "")

    @property
    def subclass(self) -> str | None:
        """``Event-Subclass`` of a CUSTOM event, else None."""
        return self.get("Event-Subclass")

    @property
    def key(self) -> str:
        """The name apps and subscribers know the event by: its ``Event-Name``, or for a
        CUSTOM event with a subclass its ``Event-Subclass`` (``mod_bert::lost_sync``).

        The one place this rule is written; the connection, the listener and the lab's
        log and inspector all read it from here.
        """
        key = self._key
        if key is None:  # computed once per event: the connection and the listener ask
            key = self.get("Event-Name", "")
            if key == "CUSTOM":
                key = self.get("Event-Subclass") or key
            self._key = key
        return key

    @property
    def uuid(self) -> str | None:
        """``Unique-ID`` of the channel the event is about, if any."""
        return self.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        """``Job-UUID`` (BACKGROUND_JOB events)."""
        return self.get("Job-UUID")

    # -- whole table and body -----------------------------------------------------
    @property
    def headers(self) -> dict[str, str]:
        """A copy of all headers, decoded, in wire order."""
        return dict(self._headers())

    @property
    def body(self) -> str:
        """The event body ('' when there is none), e.g. a BACKGROUND_JOB result."""
        if self._body is None:
            self._headers()
        assert self._body is not None
        return self._body

    @property
    def raw(self) -> bytes:
        """The event exactly as received (the frame body), or its plain encoding."""
        return self._raw or self.serialize(PLAIN)

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def __repr__(self) -> str:
        try:
            sub = f" {self.subclass}" if self.name == "CUSTOM" else ""
            return f"<Event {self.name}{sub} uuid={self.uuid} ({self.format})>"
        except ProtocolError as exc:  # repr never raises
            return f"<Event ({self.format}, undecodable: {exc.message})>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Event):
            return self._headers() == other._headers() and self.body == other.body
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def _headers(self) -> dict[str, str]:
        table = self._table
        if table is None:
            decode = {PLAIN: self._decode_plain, JSON: self._decode_json, XML: self._decode_xml}
            try:
                table = decode[self.format]()
            except EventDecodeError:
                raise
            except (RecursionError, ValueError, TypeError, LookupError) as exc:
                # e.g. JSON nested thousands deep: the codec's own error, never another
                raise EventDecodeError(f"undecodable {self.format} event: "
                                       f"{type(exc).__name__}: {exc}"[:300],
                                       data=self._raw) from None
            self._table = table
        return table

    def _decode_plain(self) -> dict[str, str]:
        raw = self._raw
        end = self._split if self._split_exact else _header_end(raw)
        head, rest = raw[:end], raw[end + 2 :]
        table: dict[str, str] = {}
        for line in head.split(b"\n"):
            name, sep, value = line.partition(b": ")
            if not sep:
                name, sep, value = line.partition(b":")
                if not sep or not name:
                    continue  # FreeSWITCH never writes such a line; skip rather than invent
            key = name.decode("utf-8", "replace")
            if key not in table:
                table[key] = url_decode(value)
        self._body = _cut(rest, table.get("Content-Length"))
        return table

    def _decode_json(self) -> dict[str, str]:
        try:
            text = self._raw.decode("utf-8")
        except UnicodeDecodeError:  # cJSON copies bytes as they are: keep bad ones for now
            text = self._raw.decode("utf-8", "surrogateescape")
        try:
            obj = json.loads(text)
            if isinstance(obj, dict) and text.count('":') != len(obj):  # a key repeated?
                obj = json.loads(text, object_pairs_hook=_first_wins)  # the first one wins
        except ValueError as exc:
            raise EventDecodeError(f"bad JSON event: {exc}", data=self._raw) from None
        if not isinstance(obj, dict):
            raise EventDecodeError("JSON event is not an object", data=self._raw)
        body = str(obj.pop("_body", ""))
        table = {str(k): _flatten(v) for k, v in obj.items()}
        # bad bytes (lenient) and lone surrogates ("\\ud800" is valid JSON) become U+FFFD
        table = {_replace(k): _replace(v) for k, v in table.items()}
        try:  # the nested Content-Length counts the raw bytes, bad ones included
            data = body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate ("\\ud800"): U+FFFD
            data = _replace(body).encode("utf-8")
        self._body = _cut(data, table.get("Content-Length"))
        return table

    def _decode_xml(self) -> dict[str, str]:
        try:
            root = ElementTree.fromstring(self._raw)
        except ElementTree.ParseError as exc:
            raise EventDecodeError(f"bad XML event: {exc}", data=self._raw) from None
        table: dict[str, str] = {}
        headers = root.find("headers")
        items: list[str] = []
        prev = None
        for child in headers if headers is not None else ():
            name, value = child.tag, url_decode((child.text or "").encode("utf-8"))
            if name == prev:  # FreeSWITCH writes an array header as one element per item
                items.append(value)
                table[name] = "ARRAY::" + "|:".join(items)
            elif name not in table:
                table[name] = value
                items, prev = [value], name
            else:  # a repeated header (not an array): the first one wins, as in plain
                prev = None
        length = root.findtext("Content-Length")
        if length is not None:
            table.setdefault("Content-Length", length.strip())
        body = root.findtext("body") or ""
        try:  # the nested Content-Length counts the raw bytes, bad ones included
            data = body.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate ("\\ud800"): U+FFFD
            data = _replace(body).encode("utf-8")
        self._body = _cut(data, table.get("Content-Length"))
        return table

    # -- serialization ------------------------------------------------------------
    def serialize(self, format: str = PLAIN) -> bytes:
        """The event body in FreeSWITCH's encoding ``format`` (without the outer frame).

        A lone surrogate in a header or the body (which UTF-8 cannot carry) is written as
        U+FFFD; an event that does not decode raises :class:`EventDecodeError`.
        """
        try:
            return self._serialize(format, self._headers(), self.body)
        except UnicodeEncodeError:
            headers = {_replace(k): _replace(v) for k, v in self._headers().items()}
            return self._serialize(format, headers, _replace(self.body))

    def _serialize(self, format: str, table: dict[str, str], body: str) -> bytes:
        headers = {k: v for k, v in table.items() if k != "Content-Length"}
        if format == PLAIN:
            out = "".join(f"{k}: {url_encode(v)}\n" for k, v in headers.items())
            if body:
                data = body.encode("utf-8")
                return f"{out}Content-Length: {len(data)}\n\n".encode() + data
            return (out + "\n").encode("utf-8")
        if format == JSON:
            obj: dict[str, Any] = {k: _items(v) or v for k, v in headers.items()}
            if body:
                obj["Content-Length"] = str(len(body.encode("utf-8")))
                obj["_body"] = body
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if format == XML:
            lines = ["<event>", "  <headers>"]
            lines += [f"    <{k}>{_xml_escape(url_encode(i))}</{k}>"
                      for k, v in headers.items() for i in _items(v) or (v,)]
            lines.append("  </headers>")
            if body:  # as switch_xml_toxml: the close tag is indented after a newline
                lines.append(f"  <Content-Length>{len(body.encode('utf-8'))}</Content-Length>")
                end = "  </body>" if body.endswith("\n") else "</body>"
                lines.append(f"  <body>{_xml_escape(body, _XML_CR)}{end}")
            lines.append("</event>\n")
            return "\n".join(lines).encode("utf-8")
        raise ValueError(f"unknown event format {format!r}; expected one of {FORMATS}")

    def to_frame(self, format: str = PLAIN) -> bytes:
        """The whole wire frame FreeSWITCH sends for this event in ``format``."""
        data = self.serialize(format)
        head = f"Content-Length: {len(data)}\nContent-Type: {CONTENT_TYPES[format]}\n\n"
        return head.encode("ascii") + data

    def to_plain(self) -> bytes:
        """Shorthand for ``to_frame("plain")``."""
        return self.to_frame(PLAIN)


def _name(value: bytes) -> str:
    """An ``Event-Name`` value as :meth:`Event.get` decodes it, memoised (bounded)."""
    name = _intern((_unquote(value) if b"%" in value else value).decode("utf-8", "replace"))
    if len(_names) > 1024:
        _names.clear()
    _names[value] = name
    return name


def _header_end(raw: bytes) -> int:
    """Where the header lines of a plain event end.

    FreeSWITCH writes ``Content-Length`` last, right before a body, so its first line
    start marks the body; looking for it is several times cheaper than a search for the
    empty line (every header line ends in ``\\n``). Values are URL-encoded, so a raw
    newline only ever ends a header line.
    """
    i = raw.find(b"\nContent-Length: ")
    if i < 0:
        return len(raw)
    j = raw.find(b"\n", i + 1)
    if j >= 0 and raw.startswith(b"\n\n", j):
        return j
    j = raw.find(b"\n\n")  # Content-Length was not last: fall back to the empty line
    return j if j >= 0 else len(raw)


def _cut(data: bytes, length: str | None) -> str:
    """The body bytes, limited to the nested Content-Length when it is there, as text."""
    if length is not None:
        try:
            n = int(length)
        except ValueError:
            n = -1
        if 0 <= n <= len(data):
            data = data[:n]
    return data.decode("utf-8", "replace")


def _replace(text: str) -> str:
    """``text`` with every lone surrogate (surrogate-escaped bad bytes, JSON ``"\\ud800"``)
    turned into U+FFFD, so that it always encodes to UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose repeated keys keep their first value (as plain and XML do)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        for key, value in reversed(pairs):
            obj[key] = value
    return obj


def _items(value: str) -> list[str] | None:
    """The items of an ``ARRAY::a|:b`` value (a JSON list, repeated XML elements), else None."""
    return value[7:].split("|:") if value.startswith("ARRAY::") else None


def _flatten(value: Any) -> str:
    """JSON values as the plain encoding shows them (arrays as ``ARRAY::a|:b``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "ARRAY::" + "|:".join(_flatten(v) for v in value)
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, dict) else str(value)
