"""Old path of the Originator (switchio's ``apps.call_gen``), kept as an alias of
:mod:`switchio_lab.apps.originator`."""

from .originator import (
    FAILURE_KINDS,
    INITIAL,
    ORIGINATING,
    ORIGINATOR_VAR,
    STATES,
    STOPPED,
    Change,
    Originator,
    failure_kind,
    get_originator,
)

__all__ = ["Change", "FAILURE_KINDS", "INITIAL", "ORIGINATING", "ORIGINATOR_VAR", "Originator",
           "STOPPED", "STATES", "failure_kind", "get_originator"]
