"""The report of a conformance run: lanes, items, per-scenario scores and their rendering."""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

from .scenario import TARGET_HEADER_PCT


# -- the report ---------------------------------------------------------------------------------
@dataclass
class Lane:
    label: str
    title: str
    recorded: list[str]
    live: list[str]
    diff: list[str]

    @property
    def ok(self) -> bool:
        return self.recorded == self.live


@dataclass
class Item:
    """One compared reply or body: the command it answers, both normalised texts."""

    index: int
    command: str
    recorded: str
    live: str
    volatile: bool = False
    kind: str = "api"

    @property
    def ok(self) -> bool:
        return self.recorded == self.live

    def diff(self, n: int = 8) -> list[str]:
        table = _table_diff(self.recorded, self.live)
        if table is not None:
            return table[:n] + ([f"... {len(table) - n} more cells"] if len(table) > n else [])
        lines = list(difflib.unified_diff(self.recorded.splitlines(), self.live.splitlines(),
                                          "freeswitch", "live", n=0, lineterm=""))[2:]
        lines = [x for x in lines if not x.startswith("@@")]
        if not lines:  # only line ends or trailing whitespace differ
            lines = [f"-{self.recorded!r}", f"+{self.live!r}"]
        return lines[:n] + ([f"... {len(lines) - n} more lines"] if len(lines) > n else [])


def _top(counter: Counter[str], n: int) -> list[tuple[str, int]]:
    """The ``n`` most common names, ties by name (stable from run to run)."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _csv_rows(text: str) -> tuple[list[str], dict[str, list[str]]] | None:
    lines = text.split("\n")
    if not lines or lines[0].count(",") < 3:
        return None
    header = lines[0].split(",")
    rows: dict[str, list[str]] = {}
    for line in lines[1:]:
        cells = line.split(",")
        extra = len(cells) - len(header)
        if extra > 0 and "application_data" in header:  # FreeSWITCH does not quote commas
            k = header.index("application_data")
            cells[k: k + extra + 1] = [",".join(cells[k: k + extra + 1])]
        if len(cells) == len(header):
            rows[cells[0]] = cells
    return header, rows


def _table_diff(recorded: str, live: str) -> list[str] | None:
    """Cell by cell differences of two ``show`` tables with the same columns (else None)."""
    a, b = _csv_rows(recorded), _csv_rows(live)
    if a is None or b is None or a[0] != b[0]:
        return None
    header = a[0]
    out: list[str] = []
    for key, cells in a[1].items():
        other = b[1].get(key)
        if other is None:
            out.append(f"row {key} missing")
            continue
        out.extend(f"row {key} {col}: FreeSWITCH {x!r}, live {y!r}"
                   for col, x, y in zip(header, cells, other, strict=True) if x != y)
    out.extend(f"extra row {key}" for key in b[1] if key not in a[1])
    if not out:
        tail_a = [x for x in recorded.split("\n")[1:] if "," not in x]
        tail_b = [x for x in live.split("\n")[1:] if "," not in x]
        if tail_a != tail_b:
            out.append(f"FreeSWITCH ends {tail_a!r}, live {tail_b!r}")
    return out


@dataclass
class ScenarioReport:
    """How one scenario's live run compares with the recording."""

    name: str
    lanes: list[Lane] = field(default_factory=list)
    pairs: int = 0
    recorded_events: int = 0
    header_total: int = 0
    header_present: int = 0
    missing: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)
    #: header name -> the first event (lane, name, index) where it was missing / extra
    first_missing: dict[str, str] = field(default_factory=dict)
    first_extra: dict[str, str] = field(default_factory=dict)
    state_total: int = 0
    state_matched: int = 0
    state_mismatches: list[str] = field(default_factory=list)
    replies: list[Item] = field(default_factory=list)
    bodies: list[Item] = field(default_factory=list)
    ignored: dict[str, tuple[int, int]] = field(default_factory=dict)
    logs: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    # -- scores -------------------------------------------------------------------------------
    @property
    def lanes_ok(self) -> bool:
        return all(lane.ok for lane in self.lanes)

    @property
    def header_pct(self) -> float | None:
        if not self.header_total:
            return None
        return 100.0 * self.header_present / self.header_total

    @property
    def headers_ok(self) -> bool:
        pct = self.header_pct
        return pct is None or pct >= TARGET_HEADER_PCT

    @property
    def replies_matched(self) -> tuple[int, int]:
        return sum(i.ok for i in self.replies), len(self.replies)

    @property
    def replies_ok(self) -> bool:
        return all(i.ok for i in self.replies)

    @property
    def bodies_matched(self) -> tuple[int, int]:
        return sum(i.ok for i in self.bodies), len(self.bodies)

    @property
    def stable_bodies_ok(self) -> bool:
        return all(i.ok for i in self.bodies if not i.volatile)

    @property
    def ok(self) -> bool:
        return self.lanes_ok and self.headers_ok and self.replies_ok and self.stable_bodies_ok

    # -- text ---------------------------------------------------------------------------------
    def divergences(self, limit: int | None = None) -> list[str]:
        """What differs, most important first, one line each."""
        out: list[str] = []
        for lane in self.lanes:
            if not lane.ok:
                out.extend(f"lane {lane.title}: {d}" for d in lane.diff)
        for item in self.replies:
            if not item.ok:
                out.append(f"reply #{item.index} to {item.command!r}: FreeSWITCH "
                           f"{item.recorded!r}, live {item.live!r}")
        for item in self.bodies:
            if not item.ok:
                tag = " (volatile)" if item.volatile else ""
                out.append(f"{item.kind} body #{item.index} of {item.command!r}{tag}: "
                           + " | ".join(item.diff(6)))
        if self.missing:
            top = ", ".join(f"{k} (x{n}, from {self.first_missing[k]})"
                            for k, n in _top(self.missing, 8))
            out.append(f"header names missing in {sum(self.missing.values())} places: {top}")
        if self.extra:
            top = ", ".join(f"{k} (x{n}, from {self.first_extra[k]})"
                            for k, n in _top(self.extra, 8))
            out.append(f"extra header names in {sum(self.extra.values())} places: {top}")
        if self.state_mismatches:
            out.append(f"state values differ ({self.state_total - self.state_matched}): "
                       + "; ".join(self.state_mismatches[:4]))
        rec_logs, live_logs = self.logs
        if rec_logs and not live_logs:
            out.append(f"no log/data frames (FreeSWITCH sent {rec_logs})")
        out.extend(f"harness: {n}" for n in self.notes)
        return out[:limit] if limit is not None else out

    def summary(self) -> dict[str, str]:
        n_ok = sum(lane.ok for lane in self.lanes)
        pct = self.header_pct
        r, rn = self.replies_matched
        b, bn = self.bodies_matched
        return {
            "scenario": self.name,
            "lanes in order": f"{n_ok}/{len(self.lanes)} {'ok' if self.lanes_ok else 'FAIL'}",
            "header names %": "-" if pct is None else
            f"{pct:5.1f} {'ok' if self.headers_ok else 'FAIL'}",
            "replies matched": f"{r}/{rn} {'ok' if self.replies_ok else 'FAIL'}",
            "api bodies matched": f"{b}/{bn} {'ok' if self.stable_bodies_ok else 'FAIL'}",
            "states": f"{self.state_matched}/{self.state_total}",
            "secs": f"{self.seconds:.1f}",
        }


@dataclass
class Report:
    scenarios: list[ScenarioReport]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.scenarios)

    def table(self) -> str:
        rows = [s.summary() for s in self.scenarios]
        if not rows:
            return "(no scenarios)"
        cols = list(rows[0])
        widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
        line = " | ".join(c.ljust(widths[c]) for c in cols)
        sep = "-+-".join("-" * widths[c] for c in cols)
        body = [" | ".join(r[c].ljust(widths[c]) for c in cols) for r in rows]
        return "\n".join([line, sep, *body])

    def render(self, per_scenario: int = 8) -> str:
        parts = [self.table(), ""]
        for s in self.scenarios:
            divs = s.divergences()
            if not divs:
                continue
            parts.append(f"{s.name}: {len(divs)} divergences")
            parts.extend(f"  - {d}" for d in divs[:per_scenario])
            if len(divs) > per_scenario:
                parts.append(f"  ... {len(divs) - per_scenario} more")
        return "\n".join(parts)
