"""Conformance of an Event Socket server with the golden FreeSWITCH captures.

For one scenario of ``fixtures/freeswitch`` (``NAME.jsonl``), the harness plays the
``send`` side of the recorded conversation against a live server (the embedded switch,
or any FreeSWITCH) and compares what comes back with the ``recv`` side:

(a) **lanes** -- per channel, the event names in order (channels are matched by the
    order in which they first appear with the same ``Call-Direction``: the k-th new
    outbound channel of the recording is the k-th new outbound channel of the live run),
    plus one lane of channel-less events (``API:<command>``, ``BACKGROUND_JOB:<command>``,
    ``CUSTOM:<subclass>``). Timer events (``HEARTBEAT``, ``RE_SCHEDULE``) are left out;
(b) **header names** -- for each matched pair of events (same lane, aligned by name), the
    share of FreeSWITCH's header names that the live event has, aggregated over the
    scenario, with the most common missing and extra names; ``Answer-State``,
    ``Channel-State``, ``Channel-Call-State`` and ``Hangup-Cause`` values are compared too;
(c) **replies** -- the ``Reply-Text`` of every ``command/reply`` (reply *i* answers
    command *i*) and the server's notices (``auth/request``, ``disconnect-notice`` with its
    disposition and linger time), UUIDs normalised;
(d) **api bodies** -- every ``api/response`` body and ``BACKGROUND_JOB`` result,
    normalised: channel UUIDs become lane labels (``<inbound#1>``), other UUIDs
    ``<uuidN>``, dates, epochs, IP addresses and the hostname placeholders, numbers of
    ``status``/``uptime`` and ``sofia status`` counters ``N``, ``show`` rows sorted;
    ``uuid_dump`` is reduced to its sorted key names (its values are volatile).

Replay: each recorded command is sent once the live side has caught up with what the
recording had received before it (as many replies and notices; on every lane, at least
the events of each name), bounded by the recorded pacing plus :data:`SLACK`. Channel
UUIDs learned from events are rewritten to the live ones (waiting up to
:data:`MAP_WAIT` for the channel to appear); UUIDs the client chose (given as ``origination_uuid=``,
``Job-UUID:`` or ``Event-UUID:``) are sent as they are.

Two scenarios need a second actor: ``myevents_linger`` (a side connection originates the
call, the transcript's ``myevents``/``linger`` run on the main one, then the side answers
the callee and kills the caller) and ``outbound_socket`` (the harness is the outbound ESL
*server*: the node's dialplan sends ``outbound`` to the ``socket`` application, a side
connection places the call, and the transcript is replayed on the connection the node
opens).

Run it: ``python -m switchio_lab.testing.conformance [--scenario NAME ...] [--fixtures DIR]``.
"""

from __future__ import annotations

from .cli import main
from .compare import compare
from .normalise import normalise_body
from .replay import SocketAppServer, replay, replay_outbound
from .report import Item, Lane, Report, ScenarioReport
from .runner import run, run_scenario, self_check
from .scenario import (
    GLOBAL,
    IGNORED_EVENTS,
    SCENARIOS,
    STATE_HEADERS,
    TARGET_HEADER_PCT,
    VOLATILE_API,
    Capture,
    ChannelMap,
    Scenario,
    Send,
    fixtures_path,
)

__all__ = [
    "GLOBAL", "IGNORED_EVENTS", "SCENARIOS", "STATE_HEADERS", "TARGET_HEADER_PCT",
    "VOLATILE_API", "Capture", "ChannelMap", "Item", "Lane", "SocketAppServer", "Report",
    "Scenario", "ScenarioReport", "Send", "compare", "fixtures_path", "main",
    "normalise_body", "replay", "replay_outbound", "run", "run_scenario", "self_check",
]
