"""Incremental, sans-I/O readers of the Event Socket byte stream.

:class:`Parser` reads what a server sends (frames); :class:`CommandParser` reads what
a client sends (commands). Feed bytes in any chunking; get the same messages out.
"""

from __future__ import annotations

from .errors import FrameTooLarge, ProtocolError
from .events import Event
from .frames import EVENT_FORMATS, Command, Frame

MAX_FRAME = 16 * 1024 * 1024
MAX_HEADER = 1024 * 1024


class _Reader:
    """Shared framing: a header block ended by an empty line, then Content-Length bytes."""

    def __init__(self, max_frame: int = MAX_FRAME, max_header: int = MAX_HEADER) -> None:
        self.max_frame = max_frame
        self.max_header = max_header
        #: the cap on an ``api/response`` body (a reply the client asked for: the protocol
        #: raises it while a command that expects a large answer waits); others: max_frame
        self.max_reply = max_frame
        self._tail = bytearray()  # unparsed bytes of an incomplete header block
        self._scan = 0  # where in _tail the search for the block end resumes
        self._pending: tuple | None = None  # (head, length, position) awaiting a body
        self._parts: list[bytes] = []  # body bytes received so far for _pending
        self._have = 0
        self._fed = 0  # bytes fed so far (stream offset of the next chunk)
        self._failed: ProtocolError | None = None
        self._eof = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a message."""
        if self._pending is not None:  # the header block of a pending message counts too
            return self._fed - self._pending[2]
        return len(self._tail)

    def feed(self, data: bytes) -> list:
        """Consume ``data``; return the messages it completes, in order.

        Raises :class:`ProtocolError` (with the stream position) on malformed input; its
        ``messages`` holds the complete messages that came before the bad one in ``data``.
        After that the stream cannot be resynchronised and every call raises it again.
        Bytes are scanned once however the stream is chunked (linear in the input).
        """
        if self._failed is not None:
            raise self._failed
        if self._eof:
            raise ProtocolError("data fed after end of stream", self._fed)
        if not data:
            return []
        data = bytes(data)
        base = self._fed
        self._fed += len(data)
        out: list = []
        pos = 0
        if self._pending is not None:  # a body straddles reads: take only what it needs
            head, length, at = self._pending
            need = length - self._have
            if len(data) < need:
                self._parts.append(data)
                self._have += len(data)
                return out
            self._parts.append(data[:need] if need < len(data) else data)
            out.append(self._message(head, b"".join(self._parts), at))
            self._pending = None
            self._parts = []
            self._have = 0
            pos = need
        elif self._tail:  # a header block straddles reads: grow it, scan only what is new
            tail = self._tail
            tail += data
            end, _ = self._block_end(tail, self._scan)
            if end < 0:
                if len(tail) > self.max_header:  # (a tail never starts with a blank line)
                    exc = FrameTooLarge(f"header block longer than {self.max_header} bytes",
                                        self._fed - len(tail), bytes(tail[:200]))
                    self._failed = exc
                    raise exc
                self._scan = max(0, len(tail) - 3)
                return out
            data = bytes(tail)
            base = self._fed - len(data)
            self._tail = bytearray()
            self._scan = 0
        try:
            self._parse(data, pos, base, out)
        except ProtocolError as exc:
            self._failed = exc
            exc.messages = out  # the complete messages before the bad one are not lost
            raise
        return out

    def feed_eof(self) -> None:
        """Declare the end of the stream; raises if it ends inside a message."""
        if self._failed is not None:
            raise self._failed
        self._eof = True
        if self._pending is not None:
            raise ProtocolError(
                f"stream ended inside a message body ({self._pending[1] - self._have} bytes"
                " missing)", self._pending[2])
        if self._tail.strip(b"\r\n"):
            raise ProtocolError("stream ended inside a header block",
                                self._fed - len(self._tail), bytes(self._tail))

    def _parse(self, data: bytes, pos: int, base: int, out: list) -> None:
        """Parse ``data`` (``data[0]`` is at stream offset ``base``) from ``pos`` into ``out``."""
        n = len(data)
        block_end = self._block_end
        head_of = self._head
        message = self._message
        while True:
            while pos < n and data[pos] in b"\r\n":  # tolerate blank lines between frames
                pos += 1
            end, gap = block_end(data, max(pos, self._scan))
            if end < 0:
                if n - pos > self.max_header:
                    raise FrameTooLarge(
                        f"header block longer than {self.max_header} bytes", base + pos,
                        data[pos:])
                self._tail = bytearray(data[pos:])
                self._scan = max(0, n - pos - 3)
                return
            if end - pos > self.max_header:
                raise FrameTooLarge(
                    f"header block longer than {self.max_header} bytes", base + pos, data[pos:end])
            self._scan = 0
            at = base + pos
            head, length = head_of(data[pos:end], at)
            start = end + gap
            stop = start + length
            if stop > n:
                self._pending = (head, length, at)
                self._parts = [data[start:]] if start < n else []
                self._have = n - start
                return
            out.append(message(head, data[start:stop], at))
            pos = stop

    def _block_end(self, data: bytes, start: int) -> tuple[int, int]:
        return data.find(b"\n\n", start), 2

    def _head(self, block: bytes, at: int) -> tuple:
        raise NotImplementedError

    def _message(self, head: tuple, body: bytes, at: int):
        raise NotImplementedError

    def _headers(self, lines: list[bytes], at: int) -> dict[str, str]:
        """Header lines as a dict; ``at`` is the stream offset of the first line."""
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(b": ")
            if not sep:
                name, sep, value = line.partition(b":")
                if not sep or not name or b" " in name:
                    raise ProtocolError("header line without 'Name: value'", at, line)
            headers[name.decode("latin-1")] = value.rstrip(b"\r").decode("utf-8", "replace")
            at += len(line) + 1
        return headers

    def _length(self, headers: dict[str, str], at: int, block: bytes = b"") -> int:
        value = headers.get("Content-Length")
        if value is None:
            for key, v in headers.items():  # clients may write content-length in any case
                if key.lower() == "content-length":
                    value = v
                    break
            else:
                return 0
        value = value.strip()
        if not (value.isascii() and value.isdigit()):  # "²".isdigit() is True
            raise ProtocolError(f"bad Content-Length {value!r}", at, block)
        length = int(value)
        cap = self._cap(headers)
        if length > cap:
            raise FrameTooLarge(f"Content-Length {length} exceeds the {cap}-byte cap", at, block)
        return length

    def _cap(self, headers: dict[str, str]) -> int:
        return self.max_frame


_CL = b"Content-Length: "
_CT = {  # second line of the usual two-line block -> content type
    b"Content-Type: " + t.encode(): t
    for t in ("text/event-plain", "text/event-json", "text/event-xml", "api/response", "log/data")
}


_EVENT_PLAIN_CT = b"\nContent-Type: text/event-plain\n\n"
_from_wire = Event.from_wire


class Parser(_Reader):
    """Reads server messages: ``Parser().feed(data) -> list[Frame]``.

    ``Parser(events=True)`` (the client's way) gives each event frame as its
    :class:`Event` instead, built straight from the frame's bytes (no :class:`Frame`,
    no header dict): ``feed(data) -> list[Frame | Event]``. ``on_frame``, if given,
    turns each other frame into whatever it returns, in stream order, as it is read.
    """

    def __init__(self, max_frame: int = MAX_FRAME, max_header: int = MAX_HEADER, *,
                 events: bool = False, on_frame=None) -> None:
        super().__init__(max_frame, max_header)
        self.events = events
        self.on_frame = on_frame

    def _parse(self, data: bytes, pos: int, base: int, out: list) -> None:
        if not self.events:
            return super()._parse(data, pos, base, out)
        # the usual event frame, "Content-Length: N\nContent-Type: text/event-plain\n\n",
        # is read in a few byte operations; any other frame takes the general path
        n = len(data)
        append = out.append
        startswith = data.startswith
        find = data.find
        from_wire = _from_wire
        block_end = self._block_end
        head_of = self._head
        message = self._message
        while True:
            if startswith(b"Content-Length: ", pos):
                nl = find(b"\n", pos + 16, pos + 28)
                if nl > 0 and startswith(_EVENT_PLAIN_CT, nl):
                    value = data[pos + 16:nl]
                    if value.isdigit():
                        start = nl + 33
                        stop = start + int(value)
                        if stop <= n and stop - start <= self.max_frame:
                            append(from_wire(data[start:stop]))
                            pos = stop
                            continue
            # the general path (as _Reader._parse), one frame at a time
            while pos < n and data[pos] in b"\r\n":  # tolerate blank lines between frames
                pos += 1
            end, gap = block_end(data, max(pos, self._scan))
            if end < 0:
                if n - pos > self.max_header:
                    raise FrameTooLarge(
                        f"header block longer than {self.max_header} bytes", base + pos,
                        data[pos:])
                self._tail = bytearray(data[pos:])
                self._scan = max(0, n - pos - 3)
                return
            if end - pos > self.max_header:
                raise FrameTooLarge(
                    f"header block longer than {self.max_header} bytes", base + pos, data[pos:end])
            self._scan = 0
            at = base + pos
            head, length = head_of(data[pos:end], at)
            start = end + gap
            stop = start + length
            if stop > n:
                self._pending = (head, length, at)
                self._parts = [data[start:]] if start < n else []
                self._have = n - start
                return
            append(message(head, data[start:stop], at))
            pos = stop

    def _head(self, block: bytes, at: int) -> tuple:
        if block.startswith(_CL):  # fast path: "Content-Length: N\nContent-Type: T"
            nl = block.find(b"\n", 16)
            ctype = _CT.get(block[nl + 1 :]) if nl > 0 else None
            value = block[16:nl]
            if ctype is not None and value.isdigit() and len(value) < 10:
                length = int(value)
                if length <= (self.max_reply if ctype == "api/response" else self.max_frame):
                    return {"Content-Length": value.decode(), "Content-Type": ctype}, length
        headers = self._headers(block.split(b"\n"), at)
        return headers, self._length(headers, at, block)

    def _cap(self, headers: dict[str, str]) -> int:
        return self.max_reply if headers.get("Content-Type") == "api/response" else self.max_frame

    def _message(self, head: dict, body: bytes, at: int) -> Frame | Event:
        if self.events:
            fmt = EVENT_FORMATS.get(head.get("Content-Type", ""))
            if fmt is not None:
                return _from_wire(body) if fmt == "plain" else Event(body, fmt)
            if self.on_frame is not None:
                return self.on_frame(Frame(head, body, at))
        return Frame(head, body, at)


class CommandParser(_Reader):
    """Reads client commands (the embedded switch's side): ``feed(data) -> list[Command]``.

    Accepts ``\\n`` or ``\\r\\n`` line ends, as FreeSWITCH does for telnet users.
    """

    def _block_end(self, data: bytes, start: int) -> tuple[int, int]:
        i = data.find(b"\n\n", start)
        j = data.find(b"\n\r\n", start, i + 2 if i >= 0 else len(data))  # one starting before i
        if j >= 0:
            return j, 3
        return i, 2

    def _head(self, block: bytes, at: int) -> tuple:
        lines = block.split(b"\n")
        line = lines[0].rstrip(b"\r").decode("utf-8", "replace")
        headers = self._headers(lines[1:], at + len(lines[0]) + 1)
        return (line, headers), self._length(headers, at, block)

    def _message(self, head: tuple, body: bytes, at: int) -> Command:
        line, headers = head
        return Command(line, headers, body, at)
