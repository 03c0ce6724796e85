"""switchio's per-call CDR view over the core's per-leg rows.

switchio's ``CDR`` app wrote one row per *call*, its fields named as below; the core's
:class:`~switchio_lab.apps.cdr.CDR` writes one row per *leg* (kept: it is the better table
for analysis). :func:`call_rows` folds the leg rows into switchio's rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..apps.cdr import CDR as LegCDR

#: switchio's CDR fields, in switchio's order
CDR_FIELDS: tuple[str, ...] = (
    "switchio_app", "hangup_cause", "caller_create", "caller_answer",
    "caller_req_originate", "caller_originate", "caller_hangup", "job_launch",
    "callee_create", "callee_answer", "callee_hangup", "failed_calls", "active_sessions",
    "erlangs",
)


def call_rows(legs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One switchio row per call (legs grouped by ``call_uuid``; the caller is the outbound
    leg, the callee the inbound one), in the order the calls' first leg rows came."""
    calls: dict[str, dict[str, dict[str, Any]]] = {}
    for leg in legs:
        role = "caller" if leg.get("direction") == "outbound" else "callee"
        calls.setdefault(leg.get("call_uuid") or leg["uuid"], {}).setdefault(role, leg)
    out = []
    failed = 0
    for legs_of in calls.values():
        caller = legs_of.get("caller") or {}
        callee = legs_of.get("callee") or {}
        if caller and not caller.get("job_ok", True):
            failed += 1
        out.append({
            "switchio_app": caller.get("app_id") or callee.get("app_id"),
            "hangup_cause": caller.get("hangup_cause") or callee.get("hangup_cause"),
            "caller_create": caller.get("create"),
            "caller_answer": caller.get("answer"),
            "caller_req_originate": caller.get("req_originate"),
            "caller_originate": caller.get("originate"),
            "caller_hangup": caller.get("hangup"),
            "job_launch": caller.get("job_launch"),
            "callee_create": callee.get("create"),
            "callee_answer": callee.get("answer"),
            "callee_hangup": callee.get("hangup"),
            "failed_calls": failed,
            "active_sessions": None,
            "erlangs": None,
            # switchio-lab extras: the call id and both legs' uuids
            "call_uuid": caller.get("call_uuid") or callee.get("call_uuid"),
            "caller_uuid": caller.get("uuid"),
            "callee_uuid": callee.get("uuid"),
        })
    return out


class CDR(LegCDR):
    """The core CDR app (per-leg :attr:`rows`) plus switchio's per-call view
    :attr:`calls` (switchio's field names, :data:`CDR_FIELDS`)."""

    fields = CDR_FIELDS

    @property
    def calls(self) -> list[dict[str, Any]]:
        return call_rows(self.rows)


class DataStorer:
    """switchio's ``measure.storage.DataStorer`` face: ``.data`` is the table (a pandas
    DataFrame when pandas is installed, else a list of dicts)."""

    def __init__(self, name: str, cdr: CDR) -> None:
        self.name, self._cdr = name, cdr

    @property
    def data(self) -> Any:
        rows = self._cdr.calls
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is an optional extra
            return rows
        return pd.DataFrame(rows, columns=[*CDR_FIELDS, "call_uuid", "caller_uuid",
                                           "callee_uuid"])

    @property
    def legs(self) -> list[dict[str, Any]]:
        """The per-leg rows (switchio-lab's table)."""
        return list(self._cdr.rows)

    def __len__(self) -> int:
        return len(self._cdr.calls)


class Measurers:
    """switchio's ``Originator.measurers``: ``.stores`` maps measurer names to their
    :class:`DataStorer`; ``measurers.CDR`` is the CDR app."""

    def __init__(self) -> None:
        self._apps: dict[str, CDR] = {}

    def add(self, name: str, app: CDR) -> None:
        self._apps[name] = app

    @property
    def stores(self) -> Any:
        return type("stores", (dict,), {"__getattr__": dict.__getitem__})(
            {name: DataStorer(name, app) for name, app in self._apps.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_apps"][name]
        except KeyError:
            raise AttributeError(name) from None

    def items(self) -> Any:
        return self._apps.items()


__all__ = ["CDR", "CDR_FIELDS", "DataStorer", "Measurers", "call_rows"]
