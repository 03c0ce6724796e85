"""The Originator auto-dialer, in parts: its settings, accounting, scheduler and calls,
composed in :class:`Originator` (:mod:`.originator`)."""

from .failures import FAILURE_KINDS, failure_kind
from .originator import CallInfo, Change, Originator, get_originator
from .states import INITIAL, ORIGINATING, ORIGINATOR_VAR, STATES, STOPPED

__all__ = ["CallInfo", "Change", "FAILURE_KINDS", "INITIAL", "ORIGINATING", "ORIGINATOR_VAR",
           "Originator", "STOPPED", "STATES", "failure_kind", "get_originator"]
