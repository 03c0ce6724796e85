"""FreeSWITCH's URL encoding of header values (``switch_url_encode``)."""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

#: Printable ASCII that FreeSWITCH leaves as is; everything else is %XX-encoded.
_UNSAFE = "\r\n \"#%&+:;<=>?@[\\]^`{|}"
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in _UNSAFE)


def url_encode(value: str) -> str:
    """Encode ``value`` the way FreeSWITCH encodes event header values."""
    return quote(value, safe=_SAFE, encoding="utf-8", errors="surrogateescape")


def url_decode(raw: bytes) -> str:
    """Decode a raw header value: %XX unescaped, then lenient UTF-8 (bad bytes become U+FFFD).

    ``+`` is kept as is: FreeSWITCH encodes a plus sign as ``%2B``.
    """
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    return raw.decode("utf-8", "replace")
