"""Nodes and clusters of the embedded switch.

A :class:`Node` is one FreeSWITCH host: an Event Socket server, SIP profiles addressed
as ``host:port`` (virtual: calls between nodes never touch a real SIP stack), a channel
engine and an event bus. A :class:`Cluster` is a set of nodes that can call each other.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .api_commands import Api
from .applications import APPS
from .config import VERSION_FULL, NodeConfig
from .coredb import CoreDB
from .engine import Engine
from .events import Block, Clock, SimEvent, date_headers
from .listener import Listener
from .mediaplane import MediaPlane

if TYPE_CHECKING:
    from .channel import Channel

log = logging.getLogger("switchio_lab.sim")

_CALLING = {  # event name -> (Event-Calling-File, -Function, -Line-Number), as FreeSWITCH
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", "768"),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", "2409"),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", "621"),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", "627"),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", "350"),
    "CODEC": ("switch_core_codec.c", "switch_core_session_set_real_read_codec", "271"),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2990"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "3066"),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", "1010"),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", "1275"),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3977"),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value",
                         "3595"),
    "CHANNEL_PROGRESS_MEDIA": ("switch_channel.c",
                               "switch_channel_perform_mark_pre_answered", "3713"),
    "CALL_UPDATE": ("switch_channel.c", "switch_channel_flip_cid", "3501"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3499"),
    "CHANNEL_HANGUP_COMPLETE": ("switch_core_state_machine.c",
                                "switch_core_session_reporting_state", "946"),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", "1708"),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", "771"),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "audio_bridge_on_exchange_media", "897"),
    "API": ("switch_loadable_module.c", "switch_api_execute", "3140"),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", "1580"),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", "89"),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", "1559"),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", "2052"),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", "1420"),
    "RECORD_STOP": ("switch_ivr_async.c", "record_callback", "1574"),
    "MEDIA_BUG_START": ("switch_core_media_bug.c", "switch_core_media_bug_add", "1025"),
    "MEDIA_BUG_STOP": ("switch_core_media_bug.c", "switch_core_media_bug_close", "1271"),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", "673"),
    "PRIVATE_COMMAND": ("mod_event_socket.c", "parse_command", "2244"),
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", "2029"),
    "COMMAND": ("switch_ivr.c", "switch_ivr_broadcast", "5133"),
    "CUSTOM": ("mod_event_socket.c", "parse_command", "2218"),
}


#: the Event Socket's listen backlog: asyncio's default (100) overflowed when 1,000 clients
#: connected at once (2-16 % connected but never got auth/request); the kernel caps it at
#: net.core.somaxconn
ESL_BACKLOG = 4096

class Node:
    """One embedded FreeSWITCH. Start it in a running loop: ``node = await Node(cfg).start()``."""

    def __init__(self, config: NodeConfig | None = None, cluster: Cluster | None = None) -> None:
        self.config = config or NodeConfig()
        self.applications = APPS  # the dialplan applications its channels run, by name
        self.cluster = cluster if cluster is not None else Cluster()
        self.cluster.add(self)
        self.channels: dict[str, Channel] = {}
        self.listeners: set[Listener] = set()  # authenticated connections (events go there)
        self.connections: set[Listener] = set()  # every open ESL connection
        self.engine = Engine(self)
        self.api = Api(self)
        self.media = MediaPlane(self)
        self.started = time.time()
        #: the cached clock events and channel times are stamped with
        self.clock = Clock(self.config.clock_tick, self.started)
        #: the core database ``show channels``/``show calls`` read (written in batches)
        self.db = CoreDB(self)
        self.sessions_since_start = 0
        self.peak_sessions = 0
        #: the node's random choices of FreeSWITCH's timing (``config.seed``)
        self.random = random.Random(self.config.seed)
        self._sequence = itertools.count(1)
        self._session_ids = itertools.count(1)
        self._base = Block({
            "Core-UUID": self.config.core_uuid,
            "FreeSWITCH-Hostname": self.config.hostname,
            "FreeSWITCH-Switchname": self.config.hostname,
            "FreeSWITCH-IPv4": self.config.address,
            "FreeSWITCH-IPv6": self.config.ipv6,
        })
        self._server: asyncio.base_events.Server | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._reloading: asyncio.Task[None] | None = None  # reload mod_event_socket
        self.variables: dict[str, str] = {
            "hostname": self.config.hostname,
            "local_ip_v4": self.config.address,
            "core_uuid": self.config.core_uuid,
        }
        self._directory_globals()
        self.running = False

    def _directory_globals(self) -> None:
        """FreeSWITCH's directory globals (``global_getvar recordings_dir``, ``sounds_dir``,
        ``sound_prefix``) from ``config.record_dir`` / ``config.sound_dir``; unset ones
        default to this node's own temporary directories (made when first written to),
        where relative recording and sound paths then resolve."""
        base = Path(tempfile.gettempdir()) / "switchio-lab" / self.config.core_uuid
        if self.config.record_dir is None:
            self.config.record_dir = str(base / "recordings")
        if self.config.sound_dir is None:
            self.config.sound_dir = str(base / "sounds")
        self.variables.update(recordings_dir=self.config.record_dir,
                              sounds_dir=self.config.sound_dir,
                              sound_prefix=self.config.sound_dir)

    # -- lifecycle -------------------------------------------------------------------
    @property
    def esl_port(self) -> int:
        return self.config.esl_port

    @property
    def host(self) -> str:
        return self.config.host

    def sip_address(self, profile: str = "external") -> str:
        return f"{self.config.host}:{self.config.sip[profile]}"

    async def start(self) -> Node:
        """Open the Event Socket (``esl_port`` 0 picks a free port) and start heartbeats."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Listener(self), self.config.host, self.config.esl_port,
            backlog=ESL_BACKLOG)
        if self.config.esl_port == 0:
            self.config.esl_port = self._server.sockets[0].getsockname()[1]
        self.started = time.time()
        self.running = True
        self.db.reopen()
        if self.config.heartbeat > 0:
            self._heartbeat = loop.create_task(self._beat())
        log.info("node %s: ESL on %s:%d, SIP %s", self.config.hostname, self.config.host,
                 self.config.esl_port, ", ".join(f"{p}={self.sip_address(p)}"
                                                 for p in self.config.sip))
        return self

    def reload_event_socket(self) -> None:
        """What ``reload mod_event_socket`` does: drop every Event Socket connection, inbound
        and outbound (mod_event_socket's shutdown kills its listeners: no disconnect-notice),
        and listen again on the same address once the module is loaded back.

        Scheduled, not done at once: the connection that sent the command gets its reply
        first. (A real FreeSWITCH shuts that connection down too, during the command, so
        its reply may be lost; waiting for the reply, or for the drop, works with both.)
        """
        self._reloading = asyncio.get_running_loop().create_task(self._reload_event_socket())

    async def _reload_event_socket(self) -> None:
        if self._server is None or not self.running:
            return
        server, self._server = self._server, None
        server.close()  # no new connections while the module is unloaded
        for listener in list(self.connections):
            listener.close(notice=False)
        log.info("node %s: mod_event_socket reloaded: every ESL connection dropped",
                 self.config.hostname)
        server = await asyncio.get_running_loop().create_server(
            lambda: Listener(self), self.config.host, self.config.esl_port)
        if self.running and self._server is None:
            self._server = server
        else:  # stopped meanwhile
            server.close()

    async def stop(self, cause: str = "SYSTEM_SHUTDOWN") -> None:
        """Hang up every call with ``cause``, drop every connection, close the socket."""
        self.running = False
        self.db.close()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        await self.engine.hupall(cause)
        for listener in list(self.listeners):
            listener.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Node:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat)
            self.fire("HEARTBEAT", self.heartbeat_headers())

    def heartbeat_headers(self) -> dict[str, str]:
        up = time.time() - self.started
        return {
            "Event-Info": "System Ready", "Up-Time": _uptime_words(up),
            "FreeSWITCH-Version": VERSION_FULL, "Uptime-msec": str(int(up * 1000)),
            "Session-Count": str(len(self.channels)),
            "Max-Sessions": str(self.config.max_sessions),
            "Session-Per-Sec": str(self.config.sps), "Session-Per-Sec-Last": "0",
            "Session-Per-Sec-Max": "0", "Session-Per-Sec-FiveMin": "0",
            "Session-Since-Startup": str(self.sessions_since_start),
            "Session-Peak-Max": str(self.peak_sessions),
            "Session-Peak-FiveMin": str(self.peak_sessions), "Idle-CPU": "100.000000",
        }

    # -- events ----------------------------------------------------------------------
    def next_session_id(self) -> int:
        return next(self._session_ids)

    def fire(self, name: str, *blocks: dict[str, str], body: str = "",
             calling: tuple[str, str, str] | None = None) -> SimEvent:
        """Fire an event: base headers, then ``blocks`` in order; deliver to listeners."""
        event = self.make_event(name, *blocks, body=body, calling=calling)
        for listener in list(self.listeners):
            listener.deliver(event)
        return event

    def make_event(self, name: str, *blocks: dict[str, str], body: str = "",
                   calling: tuple[str, str, str] | None = None) -> SimEvent:
        """An event with the switch's standard headers (Event-Date-*, Event-Sequence ...),
        not delivered (``uuid_dump`` and the outbound ``connect`` reply use this)."""
        local, gmt, stamp = date_headers(self.clock.stamp())
        file, func, line = calling or _CALLING.get(name, ("switch_event.c", "switch_event_fire",
                                                           "1"))
        head = {"Event-Name": name}
        tail = {
            "Event-Date-Local": local, "Event-Date-GMT": gmt, "Event-Date-Timestamp": stamp,
            "Event-Calling-File": file, "Event-Calling-Function": func,
            "Event-Calling-Line-Number": line, "Event-Sequence": str(next(self._sequence)),
        }
        return SimEvent(name, [head, self._base, tail, *blocks], body)

    def log(self, level: int, text: str, uuid: str = "",
            where: tuple[str, str, int] = ("switch_core_state_machine.c", "", 0)) -> None:
        """A log line to every connection that asked for logs (``log <level>``), in
        FreeSWITCH's console format."""
        listeners = [li for li in self.listeners if li.log_level is not None
                     and level <= li.log_level]
        if not listeners:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        stamp += f".{int(now % 1 * 1e6):06d}"
        file, func, line = where
        name = {0: "CONSOLE", 1: "ALERT", 2: "CRIT", 3: "ERR", 4: "WARNING", 5: "NOTICE",
                6: "INFO", 7: "DEBUG"}.get(level, "DEBUG")
        text = f"{stamp} 99.00% [{name}] {file}:{line} {text}\n"
        for listener in listeners:
            listener.log_line(level, text, uuid, file, func, line)

    @property
    def sound_dir(self) -> str | None:
        return self.config.sound_dir

    # -- channels --------------------------------------------------------------------
    def find(self, uuid: str) -> Channel | None:
        return self.channels.get(uuid)

    def __repr__(self) -> str:
        return f"<Node {self.config.hostname} esl={self.config.host}:{self.config.esl_port}>"


class Cluster:
    """Nodes that can call each other by SIP address (``host:port``)."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def add(self, node: Node) -> None:
        if node not in self.nodes:
            self.nodes.append(node)

    def route(self, host: str, port: int) -> tuple[Node, str] | None:
        """The running node and profile serving ``host:port``, if any."""
        for node in self.nodes:
            if not node.running:
                continue
            if host in (node.config.host, node.config.address, node.config.hostname):
                for profile, p in node.config.sip.items():
                    if p == port:
                        return node, profile
        return None

    @classmethod
    async def start(cls, n: int = 2, *, host_base: str = "127.0.0.", esl_port: int = 8021,
                    configs: Iterable[NodeConfig] | None = None, **kwargs) -> Cluster:
        """Start ``n`` nodes; node *i* lives on ``127.0.0.(i+1)`` with the usual ports.

        Pass ``configs`` for full control, or keyword arguments shared by all nodes
        (e.g. ``esl_port=0`` to pick free ports).
        """
        cluster = cls()
        configs = list(configs) if configs is not None else [
            NodeConfig(host=f"{host_base}{i + 1}", esl_port=esl_port,
                       hostname=f"switchio-lab-{i + 1}", **kwargs) for i in range(n)]
        try:
            for cfg in configs:
                await Node(cfg, cluster).start()
        except BaseException:
            await cluster.stop()
            raise
        return cluster

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, i: int) -> Node:
        return self.nodes[i]


def _uptime_words(seconds: float) -> str:
    s = int(seconds)
    ms = int((seconds - s) * 1000)
    us = int((seconds * 1_000_000) % 1000)
    years, s = divmod(s, 365 * 86400)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    return (f"{years} years, {days} days, {hours} hours, {minutes} minutes, {s} seconds, "
            f"{ms} milliseconds, {us} microseconds")
