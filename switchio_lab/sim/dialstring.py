"""Dial strings: their ``{a=1,b=2}`` variables and the failure of one that reaches no channel."""

from __future__ import annotations


class DialFailed(Exception):
    """A dial string that fails before any channel exists (``-ERR <CAUSE>``)."""

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(cause)


def parse_vars(text: str) -> dict[str, str]:
    """``a=1,b='x,y',c=^^:p:q`` -> dict (FreeSWITCH's ``{}`` variable syntax)."""
    out: dict[str, str] = {}
    if not text:
        return out
    parts, buf, quote = [], [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                buf.append(ch)
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    for part in parts:
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v
    return out


__all__ = ["DialFailed", "parse_vars"]
