"""Numbers as FreeSWITCH reads them from variables and arguments: C's ``atoi``.

FreeSWITCH parses ``originate_timeout``, ``call_timeout``, ``sleep``'s milliseconds and
``loops`` with ``atoi``: leading blanks, an optional sign, then the decimal digits that
follow; anything else ends the number (``"nan"``, ``"inf"`` and ``""`` are 0,
``"1e20"`` is 1, ``"2.9"`` is 2). Reading them any other way (``float("nan")``) hands
asyncio a timer it cannot order, and other calls' timeouts fire seconds late.
"""

from __future__ import annotations

import re

_LEADING_INT = re.compile(r"\s*([+-]?\d+)")
INT_MAX = 2**31 - 1  # C int


def atoi(text: object) -> int:
    """``atoi(text)`` as C computes it for an ``int`` (saturated to its range)."""
    m = _LEADING_INT.match(str(text or ""))
    if not m:
        return 0
    return max(-INT_MAX - 1, min(INT_MAX, int(m.group(1))))


def positive(text: object, default: int) -> int:
    """``atoi(text)`` if it is > 0, else ``default`` (FreeSWITCH's ``if (tmp > 0)`` idiom)."""
    n = atoi(text)
    return n if n > 0 else default
