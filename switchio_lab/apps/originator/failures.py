"""Why an offered call failed: the switch's causes by kind, and client-side causes."""

from __future__ import annotations

import logging

from ...connection.errors import (
    CommandTimeout,
    ConnectionLost,
    ESLError,
    NotConnected,
)
from ...core import AppError

log = logging.getLogger("switchio_lab")

#: failure causes by kind (see :func:`failure_kind`)
FAILURE_KINDS: dict[str, frozenset[str]] = {
    "capacity": frozenset({"SWITCH_CONGESTION", "NORMAL_CIRCUIT_CONGESTION",
                           "RESOURCE_UNAVAILABLE", "BEARERCAPABILITY_NOTAVAIL"}),
    "busy": frozenset({"USER_BUSY"}),
    "unreachable": frozenset({"NORMAL_TEMPORARY_FAILURE", "NO_ROUTE_DESTINATION",
                              "NO_ROUTE_TRANSIT_NET", "DESTINATION_OUT_OF_ORDER",
                              "NETWORK_OUT_OF_ORDER", "UNALLOCATED_NUMBER",
                              "RECOVERY_ON_TIMER_EXPIRE", "USER_NOT_REGISTERED",
                              "SUBSCRIBER_ABSENT", "INVALID_NUMBER_FORMAT",
                              "INCOMPATIBLE_DESTINATION"}),
    "no_answer": frozenset({"NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT",
                            "PROGRESS_TIMEOUT", "ORIGINATOR_CANCEL"}),
    "rejected": frozenset({"CALL_REJECTED", "OUTGOING_CALL_BARRED",
                           "INCOMING_CALL_BARRED", "FACILITY_REJECTED"}),
    "client": frozenset({"APP_NOT_LOADED", "NOT_CONNECTED", "CONNECTION_LOST",
                         "COMMAND_TIMEOUT", "ESL_ERROR", "CLIENT_ERROR",
                         "ORIGINATOR_SHUTDOWN"}),
}


def failure_kind(cause: str) -> str:
    """The kind of a failure cause: ``capacity``, ``busy``, ``unreachable``,
    ``no_answer``, ``rejected``, ``client`` (the originate never got a switch's answer)
    or ``other``.

    Note that a far end refusing a call for lack of capacity (a SIP 503, as FreeSWITCH
    sends when its ``max_sessions`` is reached) reaches the caller as
    ``NORMAL_TEMPORARY_FAILURE``, which is counted as ``unreachable``; only the
    originating node's own limits give ``SWITCH_CONGESTION``.
    """
    for kind, causes in FAILURE_KINDS.items():
        if cause in causes:
            return kind
    return "other"


def client_cause(exc: BaseException) -> str:
    """The failure cause of an originate that raised ``exc`` on the client side."""
    if isinstance(exc, AppError):
        return "APP_NOT_LOADED"
    if isinstance(exc, NotConnected):
        return "NOT_CONNECTED"
    if isinstance(exc, ConnectionLost):
        return "CONNECTION_LOST"
    if isinstance(exc, CommandTimeout):
        return "COMMAND_TIMEOUT"
    if isinstance(exc, ESLError):
        return "ESL_ERROR"
    log.error("originator: originate failed: %r", exc, exc_info=exc)
    return "CLIENT_ERROR"


__all__ = ["FAILURE_KINDS", "client_cause", "failure_kind"]
