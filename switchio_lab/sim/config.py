"""Configuration of one embedded node (what one FreeSWITCH host is)."""

from __future__ import annotations

import random
import re
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field

Delay = float | tuple[float, float] | Callable[[], float]

VERSION = "1.11.3-dev"
VERSION_FULL = "1.11.3-dev+git~20260821T141014Z~cc93a683ca~64bit"
VERSION_SHORT = "1.11.3-dev git cc93a68 2026-08-21 14:10:14Z 64bit"


def sample(delay: Delay) -> float:
    """A delay in seconds: a number, a (low, high) uniform range, or a callable."""
    if callable(delay):
        return max(0.0, float(delay()))
    if isinstance(delay, tuple):
        return random.uniform(*delay)
    return float(delay)


@dataclass
class Rule:
    """A dialplan extension: destinations matching ``pattern`` run ``actions`` in order.

    ``actions`` are ``(application, argument)`` pairs, e.g.
    ``Rule(r"^echo$", [("answer", ""), ("echo", "")])``.
    """

    pattern: str
    actions: list[tuple[str, str]]
    context: str | None = None  # None: any context

    def __post_init__(self) -> None:
        self._re = re.compile(self.pattern)

    def match(self, destination: str, context: str) -> re.Match[str] | None:
        if self.context is not None and self.context != context:
            return None
        return self._re.search(destination)


#: The fixtures' dialplan: every inbound call is parked in context ``switchio``.
PARK_ALL = [Rule(r"^(.*)$", [("park", "")])]


@dataclass
class NodeConfig:
    """One node: its addresses, identity, limits and dialplan.

    ``sip`` maps profile names to ports on ``host``; calls to ``<user>@host:port`` of
    any node in the same :class:`~switchio_lab.sim.Cluster` arrive on that node.
    """

    host: str = "127.0.0.1"
    esl_port: int = 8021
    password: str = field(default="ClueCon", repr=False)  #: never shown in a repr
    #: seconds a connection may take to authenticate before it is dropped (FreeSWITCH: 25)
    auth_timeout: float = 25.0
    sip: dict[str, int] = field(default_factory=lambda: {"internal": 5060, "external": 5080})
    hostname: str = "switchio-lab"
    ipv4: str | None = None
    ipv6: str = "::1"
    core_uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    max_sessions: int = 10000
    sps: int = 10000
    context: str = "switchio"
    dialplan: list[Rule] = field(default_factory=lambda: list(PARK_ALL))
    #: time from the INVITE to the far leg existing (network + SIP processing)
    invite_delay: Delay = 0.002
    #: how long the ``answer`` application takes on an inbound leg (a distribution:
    #: a number, a ``(low, high)`` uniform range, or a callable returning seconds)
    answer_delay: Delay = 0.0
    #: ``fsctl verbose_events`` at start: whether every channel event carries the
    #: channel's ``variable_*`` headers (on), or only those FreeSWITCH extends with them
    #: (CHANNEL_CREATE, ANSWER, PARK, EXECUTE, HANGUP ...: off, FreeSWITCH's default)
    verbose_events: bool = False
    #: the calling leg's media setup after its answer: from its CHANNEL_ANSWER until its
    #: ``&park()`` (or dialplan) starts it stays in CS_CONSUME_MEDIA, where a ``playback``
    #: sent to it fails (``PLAYBACK ERROR``). None (the default): FreeSWITCH's, a whole
    #: number of timer ticks drawn from ``answer_park_ticks``; seconds (a number, range or
    #: callable): that window instead; 0: parked at once.
    answer_park_delay: Delay | None = None
    #: the weights of a park 0, 1 or 2 ticks (0, 20, 40 ms on the event clock) after the
    #: caller's answer: FreeSWITCH's 9/49/2 of 60 calls (``call_answer_race`` 8/10/2,
    #: ``call_media_load`` 1/39/0). A 0-tick park still comes a moment later, in the
    #: answer's tick, so a command sent at once may still race it.
    answer_park_ticks: tuple[float, ...] = (9.0, 49.0, 2.0)
    #: the chance that a ``playback`` raced into that window whose park falls in the tick
    #: it runs in sends PLAYBACK_START (and PLAYBACK_STOP) before its ``PLAYBACK ERROR``
    #: (``call_answer_race``: 4 of 11; a window still open a tick later: always, 3 of 3)
    raced_playback_start: float = 4 / 11
    #: seeds the node's own random choices (the answer->park ticks, raced playbacks):
    #: None draws a fresh seed; a number makes a run repeatable
    seed: int | None = None
    #: FreeSWITCH's cached clock: Event-Date-Timestamp and the channel times
    #: (Caller-Channel-*-Time, ``*_uepoch``) advance once per timer tick, so the events
    #: of one tick share one value. The tick in seconds (FreeSWITCH: 0.02); 0: exact.
    clock_tick: float = 0.02
    #: ``show channels``/``show calls`` read FreeSWITCH's core database, written in
    #: batches: a new channel is listed ``show_channels_add`` s after the first row of
    #: its batch was queued (at CHANNEL_CREATE), a gone one until ``show_channels_drop``
    #: s after its CHANNEL_DESTROY (``show_channels_lag``: 33-85 ms, median 84; ~170
    #: ms). 0: listed as they are.
    show_channels_add: Delay = 0.085
    show_channels_drop: Delay = 0.17
    #: heartbeat period (FreeSWITCH: 20 s)
    heartbeat: float = 20.0
    #: where recordings with relative paths go, and where sound files are looked up
    sound_dir: str | None = None
    record_dir: str | None = None
    #: per-direction RTP impairments for quality numbers: packet loss fraction, jitter ms
    loss: float = 0.0
    jitter_ms: float = 0.0
    #: the switch's event queue per listener, and lost events before it is dropped
    listener_queue: int = 100_000
    listener_max_lost: int = 500

    @property
    def address(self) -> str:
        return self.ipv4 or self.host
