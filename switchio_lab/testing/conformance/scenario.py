"""Golden captures as scenarios: what was sent and heard, its channels and lanes."""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...esl import (
    API_RESPONSE,
    COMMAND_REPLY,
    LOG_DATA,
    Command,
    CommandParser,
    Event,
    Frame,
    Parser,
)

log = logging.getLogger("switchio_lab.testing.conformance")

#: every scenario of the golden captures that the harness can replay, in run order
SCENARIOS = (
    "commands", "auth_rejected", "before_auth", "call_basic", "call_json", "call_xml",
    "call_media", "call_bridge", "call_failures", "call_xheaders", "myevents_linger",
    "outbound_socket", "call_bridge_xheaders", "call_internal_profile", "call_playrec",
)
#: channel events that carry ``variable_*`` headers only with ``fsctl verbose_events on``
#: (how a recording tells which way its FreeSWITCH was set)
VERBOSE_ONLY_EVENTS = frozenset({"CHANNEL_STATE", "CHANNEL_CALLSTATE", "CODEC"})
#: events fired by timers, not by what the client did: not compared
IGNORED_EVENTS = frozenset({"HEARTBEAT", "RE_SCHEDULE"})
#: header values compared for each matched pair of events ("state values")
STATE_HEADERS = ("Answer-State", "Channel-State", "Channel-Call-State", "Hangup-Cause")
#: api commands whose bodies depend on volatile state (reported, not part of the target)
VOLATILE_API = frozenset({"uuid_dump"})
#: the lane of channel-less events
GLOBAL = "no-channel"
#: the share of FreeSWITCH's header names an event must have (percent)
TARGET_HEADER_PCT = 95.0

#: extra time allowed over the recorded pacing before a command is sent anyway (s)
SLACK = 0.5
#: how long to wait for a channel a command refers to (s)
MAP_WAIT = 3.0
#: no new frame for this long before sending the next command (s)
QUIET = 0.02
#: after the last command: extra time allowed, and the silence that ends the run (s)
END_SLACK = 1.0
END_QUIET = 0.3

UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: UUIDs the client chooses (a new channel's, a job's, an application's): sent as they are
_CHOSEN_RE = re.compile(r"(?:origination_uuid|Job-UUID|Event-UUID)\s*[=:]\s*(" + UUID_RE.pattern
                        + ")", re.IGNORECASE)
_REPLIES = (COMMAND_REPLY, API_RESPONSE)
_SIP_TARGET = "127.0.0.1:5080"  # where the captured FreeSWITCH called itself


def fixtures_path() -> Path:
    """Where the golden captures are: ``$SWITCHIO_LAB_FIXTURES``, else ``../shared/...``."""
    env = os.environ.get("SWITCHIO_LAB_FIXTURES")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[3]  # the checkout
    return root.parent / "shared" / "fixtures" / "freeswitch"


# -- channels and lanes -----------------------------------------------------------------------
class ChannelMap:
    """Labels channels ``<direction>#<k>`` by the order they first appear per direction."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}  # uuid -> label
        self.uuids: dict[str, str] = {}  # label -> uuid
        self.names: dict[str, str] = {}  # label -> channel name
        self._counts: Counter[str] = Counter()

    def observe(self, uuid: str, direction: str | None, name: str | None = None) -> str:
        label = self.labels.get(uuid)
        if label is None:
            d = direction or "unknown"
            self._counts[d] += 1
            label = f"{d}#{self._counts[d]}"
            self.labels[uuid] = label
            self.uuids[label] = uuid
            if name:
                self.names[label] = name
        return label

    def observe_frame(self, frame: Frame) -> str | None:
        ch = frame_channel(frame)
        return self.observe(*ch) if ch else None


def frame_channel(frame: Frame) -> tuple[str, str | None, str | None] | None:
    """(Unique-ID, Call-Direction, Channel-Name) of an event or ``connect`` reply."""
    if frame.is_event:
        ev = frame.event
        if ev is None:
            return None
        uuid = ev.get("Unique-ID")
        return (uuid, ev.get("Call-Direction"), ev.get("Channel-Name")) if uuid else None
    if frame.content_type == COMMAND_REPLY and "Unique-ID" in frame.headers:
        data = frame.channel_data()
        return data["Unique-ID"], data.get("Call-Direction"), data.get("Channel-Name")
    return None


def event_label(ev: Event, channel: bool) -> str:
    """The name an event is compared by: its name, qualified where it is ambiguous."""
    name = ev.name
    if name == "CUSTOM":
        return f"CUSTOM:{ev.get('Event-Subclass') or ''}"
    if not channel:
        if name == "API":
            return f"API:{ev.get('API-Command') or ''}"
        if name == "BACKGROUND_JOB":
            return f"BACKGROUND_JOB:{ev.get('Job-Command') or ''}"
    return name


def _lane_of(frame: Frame, chmap: ChannelMap) -> tuple[str, str] | None:
    """(lane, event label) of an event frame; None for ignored events and non-events."""
    if not frame.is_event or frame.event is None:
        return None
    ev = frame.event
    if ev.name in IGNORED_EVENTS:
        return None
    ch = frame_channel(frame)
    if ch is None:
        return GLOBAL, event_label(ev, False)
    return chmap.observe(*ch), event_label(ev, True)


def _is_notice(frame: Frame) -> bool:
    return not frame.is_event and frame.content_type not in (*_REPLIES, LOG_DATA)


# -- scenarios ----------------------------------------------------------------------------------
@dataclass
class Send:
    """One recorded command and what the recording had received before it was sent."""

    index: int
    t: float
    data: bytes
    command: Command
    replies_before: int
    notices_before: int
    events_before: Counter[tuple[str, str]]
    #: recorded channel UUIDs in the command that must be rewritten to live ones
    channel_uuids: tuple[str, ...]


@dataclass
class Capture:
    """What one side said on the scenario's connection: frames with arrival times."""

    frames: list[tuple[float, Frame]]
    #: channels seen on any connection in order of appearance, as Unique-ID,
    #: Call-Direction and Channel-Name triples; None: taken from the frames
    observations: list[tuple[str, str | None, str | None]] | None = None
    #: harness notes (timeouts, unmapped channels, errors)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def channel_map(self) -> ChannelMap:
        chmap = ChannelMap()
        if self.observations is not None:
            for obs in self.observations:
                chmap.observe(*obs)
        for _, frame in self.frames:  # anything not observed elsewhere, in frame order
            chmap.observe_frame(frame)
        return chmap


class Scenario:
    """One golden capture: the conversation and what the harness needs to replay it."""

    def __init__(self, name: str, entries: list[tuple[float, str, bytes]]) -> None:
        self.name = name
        self.entries = entries
        self._recorded: Capture | None = None
        self._sends: list[Send] | None = None

    @classmethod
    def load(cls, name: str, fixtures_dir: str | Path | None = None) -> Scenario:
        path = Path(fixtures_dir) if fixtures_dir is not None else fixtures_path()
        file = path / f"{name}.jsonl"
        entries = []
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    o = json.loads(line)
                    entries.append((float(o["t"]), o["dir"], o["data"].encode("latin-1")))
        return cls(name, entries)

    @property
    def kind(self) -> str:
        """``inbound`` (one client connection), ``myevents`` or ``outbound``."""
        if self.name == "outbound_socket" or (self.sends and self.sends[0].command.name
                                              == "connect"):
            return "outbound"
        if self.name == "myevents_linger":
            return "myevents"
        return "inbound"

    @property
    def duration(self) -> float:
        return self.entries[-1][0] if self.entries else 0.0

    @property
    def password(self) -> str:
        for s in self.sends:
            if s.command.name == "auth":
                return s.command.args.strip()
        return "ClueCon"

    @property
    def recorded(self) -> Capture:
        """The ``recv`` side as a capture (frame times: the chunk that completed them)."""
        if self._recorded is None:
            parser = Parser()
            frames: list[tuple[float, Frame]] = []
            for t, direction, data in self.entries:
                if direction == "recv":
                    frames.extend((t, f) for f in parser.feed(data))
            self._recorded = Capture(frames, seconds=self.duration)
        return self._recorded

    @property
    def channels(self) -> ChannelMap:
        return self.recorded.channel_map()

    @property
    def sends(self) -> list[Send]:
        if self._sends is None:
            self._sends = self._build_sends()
        return self._sends

    def _build_sends(self) -> list[Send]:
        chmap = self.channels
        parser = Parser()
        replies = notices = 0
        lanes: Counter[tuple[str, str]] = Counter()
        out: list[Send] = []
        for t, direction, data in self.entries:
            if direction == "recv":
                for frame in parser.feed(data):
                    if frame.content_type in _REPLIES:
                        replies += 1
                    elif _is_notice(frame):
                        notices += 1
                    key = _lane_of(frame, chmap)
                    if key is not None:
                        lanes[key] += 1
                continue
            text = data.decode("latin-1")
            chosen = {m.group(1).lower() for m in _CHOSEN_RE.finditer(text)}
            uuids = tuple(dict.fromkeys(
                u for u in UUID_RE.findall(text) if u in chmap.labels and u.lower() not in chosen))
            for k, cmd in enumerate(CommandParser().feed(data)):  # one per send, as recorded
                out.append(Send(len(out), t, data if k == 0 else b"", cmd, replies, notices,
                                Counter(lanes), uuids))
        return out

    def final(self) -> tuple[int, int, Counter[tuple[str, str]]]:
        """(replies, notices, lane counts) of the whole recording."""
        cap = self.recorded
        chmap = self.channels
        replies = sum(f.content_type in _REPLIES for _, f in cap.frames)
        notices = sum(_is_notice(f) for _, f in cap.frames)
        lanes: Counter[tuple[str, str]] = Counter()
        for _, f in cap.frames:
            key = _lane_of(f, chmap)
            if key is not None:
                lanes[key] += 1
        return replies, notices, lanes

    @property
    def verbose_events(self) -> bool | None:
        """Whether the recording's FreeSWITCH had ``verbose_events`` on: its CHANNEL_STATE
        (CALLSTATE, CODEC) events carry the channel variables. None: it shows no such
        event (the scenario does not tell)."""
        seen = False
        for _, f in self.recorded.frames:
            if f.is_event and f.event is not None and f.event.name in VERBOSE_ONLY_EVENTS:
                if any(k.startswith("variable_") for k in f.event.headers):
                    return True
                seen = True
        return False if seen else None

    def first_event_time(self, name: str) -> float | None:
        for t, f in self.recorded.frames:
            if f.is_event and f.event is not None and f.event.name == name:
                return t
        return None

    def __repr__(self) -> str:
        return f"<Scenario {self.name} {len(self.sends)} commands {self.duration:.1f}s>"
