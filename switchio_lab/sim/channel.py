"""A channel (one call leg) of the embedded switch: state machine, headers and events.

The event sequence of each stage (creation, ringing, answer, applications, hangup)
and the headers each event carries follow FreeSWITCH's, as captured in the golden
fixtures. A channel is driven by its own task (``run``), which executes dialplan
applications and messages sent to it (``sendmsg``) one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid as uuidlib
from collections import deque
from typing import TYPE_CHECKING, Any

from . import cnum, sipvars
from .causes import CAUSE_TO_SIP, q850
from .config import sample
from .events import Block, SimEvent
from .quality import hangup_media

if TYPE_CHECKING:
    from .listener import Listener
    from .node import Node

log = logging.getLogger("switchio_lab.sim")

STATE_NUMBERS = {
    "CS_NEW": 0, "CS_INIT": 1, "CS_ROUTING": 2, "CS_SOFT_EXECUTE": 3, "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5, "CS_PARK": 6, "CS_CONSUME_MEDIA": 7, "CS_HIBERNATE": 8,
    "CS_RESET": 9, "CS_HANGUP": 10, "CS_REPORTING": 11, "CS_DESTROY": 12, "CS_NONE": 13,
}
CALLSTATE_NUMBERS = {"DOWN": 0, "DIALING": 1, "RINGING": 2, "EARLY": 3, "ACTIVE": 4, "HELD": 5,
                     "RING_WAIT": 6, "HANGUP": 7, "UNHELD": 8}


_VAR_REF = re.compile(r"\$\{([^}]+)\}")

#: the channel events that carry the channel's variables even with ``verbose_events``
#: off (switch_channel_event_set_extended_data); the others (CHANNEL_STATE,
#: CHANNEL_CALLSTATE, CODEC, CHANNEL_OUTGOING, PRIVATE_COMMAND, DTMF, RECV_INFO ...)
#: carry them only with ``fsctl verbose_events on``
EXTENDED_EVENTS = frozenset({
    "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_ANSWER", "CHANNEL_PARK",
    "CHANNEL_UNPARK", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "REQUEST_PARAMS",
    "CHANNEL_DATA", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_DESTROY",
    "SESSION_HEARTBEAT", "API", "RECORD_START", "RECORD_STOP", "PLAYBACK_START",
    "PLAYBACK_STOP", "CALL_UPDATE", "MEDIA_BUG_START", "MEDIA_BUG_STOP", "CHANNEL_HOLD",
    "CHANNEL_UNHOLD", "CUSTOM",
})


#: hangups started per loop iteration by ``hupall`` (each fires CHANNEL_HANGUP at once: 4,000
#: of them in one go held the loop 8 s, issue 15)
HANGUP_BATCH = 16

class Hangup(Exception):
    """Raised inside an application when its channel hangs up."""


class Message:
    """An application queued for a channel (dialplan, ``sendmsg`` or api)."""

    __slots__ = ("app", "arg", "app_uuid", "command", "headers", "done", "loops", "after")

    def __init__(self, app: str, arg: str = "", app_uuid: str | None = None,
                 command: str | None = None, loops: int = 1,
                 headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.arg = arg
        self.app_uuid = app_uuid or str(uuidlib.uuid4())
        self.command = command  # "sendmsg <uuid>": a PRIVATE_COMMAND follows it (see run_inbox)
        self.headers = headers or {}  # the sendmsg headers, echoed in that event
        self.loops = loops
        self.after: tuple[str, dict[str, str]] | None = None  # an event to fire once done
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()


class Channel:
    """One call leg on one node."""

    def __init__(self, node: Node, *, direction: str, name: str, uuid: str | None = None,
                 dialog: sipvars.Dialog | None = None, context: str = "default",
                 destination: str = "", cid_name: str = "", cid_number: str = "0000000000",
                 source: str = "mod_sofia", endpoint: str = "sofia") -> None:
        self.node = node
        self.uuid = uuid or str(uuidlib.uuid4())
        self.direction = direction
        self.name = name
        self.dialog = dialog
        self.endpoint = endpoint
        self.context = context
        self.destination = destination
        self.cid_name = cid_name
        self.cid_number = cid_number
        self.source = source
        self.state = "CS_NEW"
        self.state_number = 0
        self.callstate = "DOWN"
        self.answer_state = "ringing"
        self.hit_dialplan = False
        self.cause: str | None = None
        self.created = time.time()
        self.answered_at: float | None = None
        self.progress_at: float | None = None
        self.progress_media_at: float | None = None
        self.bridged_at: float | None = None
        self.hangup_at: float | None = None
        self.session_id = node.next_session_id()
        self.core_extra: dict[str, str] = {}
        self.codec = Block()
        self.caller = Block()
        self.other = Block()
        self.vars = Block()
        self.peer: Channel | None = None  # the other end of the SIP dialog
        self.bridged: Channel | None = None
        self.inbox: deque[Message] = deque()
        self.wake = asyncio.Event()
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reported: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.destroyed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.watchers: set[Listener] = set()
        self.current_app: str | None = None
        self.last_app: str | None = None
        self.break_requested = False
        self.transfer_to: tuple[str, str] | None = None
        self.resume_after_socket = False
        self.remote_hangup: str | None = None
        self.originator: Channel | None = None  # the leg whose bridge created this one
        self.callee_direction = ""  # "RECV" once the caller id flipped, "SEND" once bridged
        self.hangup_extra: list[tuple[str, str | None]] = []  # set (None: unset) at HANGUP
        self.reporting_extra: list[tuple[str, str]] = []  # set when reported
        self.last_arg: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.media: Any = None  # media state (recordings, echo, playing) managed by apps
        #: a calling leg's answer->park window: its park in ticks after the answer (None:
        #: a configured window), and when the window closes (epoch seconds)
        self.park_ticks: int | None = None
        self.media_at: float | None = None
        self.dtmf_received: list[str] = []
        node.channels[self.uuid] = self
        node.db.added(self)
        node.sessions_since_start += 1
        node.peak_sessions = max(node.peak_sessions, len(node.channels))

    # -- variables --------------------------------------------------------------------
    def setvar(self, name: str, value: object) -> None:
        self.vars.set("variable_" + name, value)

    def setvars(self, pairs: list[tuple[str, str]] | dict[str, str]) -> None:
        items = pairs.items() if isinstance(pairs, dict) else pairs
        for k, v in items:
            self.vars.set("variable_" + k, v)

    def getvar(self, name: str) -> str | None:
        return self.vars.get("variable_" + name)

    def unsetvar(self, name: str) -> None:
        self.vars.pop("variable_" + name, None)

    def expand(self, text: str) -> str:
        """``${name}`` replaced by the channel variable (or the switch's global) ``name``."""
        if "${" not in text:
            return text

        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            found = self.getvar(name)
            return found if found is not None else self.node.variables.get(name, "")
        return _VAR_REF.sub(value, text)

    # -- events -------------------------------------------------------------------------
    def core(self) -> dict[str, str]:
        core = {
            "Channel-State": self.state,
            "Channel-Call-State": self.callstate,
            "Channel-State-Number": str(self.state_number),
            "Channel-Name": self.name,
            "Unique-ID": self.uuid,
            "Call-Direction": self.direction,
            "Presence-Call-Direction": self.direction,
            "Channel-HIT-Dialplan": "true" if self.hit_dialplan else "false",
            "Channel-Call-UUID": self.vars.get("variable_call_uuid") or self.uuid,
            "Answer-State": self.answer_state,
        }
        if self.cause:
            core["Hangup-Cause"] = self.cause
        if self.core_extra:
            core.update(self.core_extra)
        return core

    def fire(self, name: str, extra: dict[str, str] | None = None, body: str = "") -> SimEvent:
        blocks: list[dict[str, str]] = [self.core()]
        if self.codec:
            blocks.append(self.codec)
        if self.caller:
            blocks.append(self.caller)
        if self.other:
            blocks.append(self.other)
        if name in EXTENDED_EVENTS or self.node.api.verbose_events:
            blocks.append(self.vars)
        if extra:
            blocks.append(extra)
        return self.node.fire(name, *blocks, body=body)

    def set_state(self, state: str, number: int | None = None) -> None:
        self.node.log(7, f"({self.name}) State Change {self.state} -> {state}", self.uuid,
                      ("switch_core_session.c", "switch_core_session_perform_set_running_state",
                       2379))
        self.state = state
        self.state_number = STATE_NUMBERS[state] if number is None else number
        self.fire("CHANNEL_STATE")

    def set_callstate(self, callstate: str, **extra_vars: str) -> None:
        original = self.callstate
        self.callstate = callstate
        if extra_vars:
            self.setvars(extra_vars)
        self.fire("CHANNEL_CALLSTATE", {"Original-Channel-Call-State": original,
                                        "Channel-Call-State-Number":
                                            str(CALLSTATE_NUMBERS[callstate])})

    def caller_profile(self, *, username: bool) -> Block:
        """The Caller-* block (mod_sofia's inbound profile has Username/Dialplan/Network)."""
        us = str(self.node.clock.stamp(self.created))
        b = Block()
        b["Caller-Direction"] = self.direction
        b["Caller-Logical-Direction"] = self.direction
        if username:
            b["Caller-Username"] = self.cid_number
            b["Caller-Dialplan"] = "XML"
        if self.cid_name:
            b["Caller-Caller-ID-Name"] = self.cid_name
        b["Caller-Caller-ID-Number"] = self.cid_number
        if username or self.cid_name:
            b["Caller-Orig-Caller-ID-Name"] = self.cid_name
        b["Caller-Orig-Caller-ID-Number"] = self.cid_number
        if username:
            b["Caller-Network-Addr"] = self.dialog.caller_host if self.dialog else "127.0.0.1"
        if self.direction == "outbound":
            b["Caller-Callee-ID-Name"] = "Outbound Call"
            b["Caller-Callee-ID-Number"] = self.destination
        b["Caller-ANI"] = self.cid_number
        b["Caller-Destination-Number"] = self.destination
        b["Caller-Unique-ID"] = self.uuid
        b["Caller-Source"] = self.source
        b["Caller-Context"] = self.context
        b["Caller-Channel-Name"] = self.name
        b["Caller-Profile-Index"] = "1"
        b["Caller-Profile-Created-Time"] = us
        b["Caller-Channel-Created-Time"] = us
        for t in ("Answered", "Progress", "Progress-Media", "Hangup", "Transfer", "Resurrect",
                  "Bridged"):
            b[f"Caller-Channel-{t}-Time"] = "0"
        b["Caller-Channel-Last-Hold"] = "0"
        b["Caller-Channel-Hold-Accum"] = "0"
        b["Caller-Screen-Bit"] = "true"
        b["Caller-Privacy-Hide-Name"] = "false"
        b["Caller-Privacy-Hide-Number"] = "false"
        return b

    @property
    def codec_name(self) -> str:
        """The audio codec negotiated for this leg's call (PCMU or PCMA)."""
        return self.dialog.codec if self.dialog is not None else "PCMU"

    def set_codec(self) -> None:
        name = self.codec_name
        self.codec.update({
            "Channel-Read-Codec-Name": name, "Channel-Read-Codec-Rate": "8000",
            "Channel-Read-Codec-Bit-Rate": "64000", "Channel-Write-Codec-Name": name,
            "Channel-Write-Codec-Rate": "8000", "Channel-Write-Codec-Bit-Rate": "64000"})

    def fire_codec_pair(self) -> None:
        """The two CODEC events of media negotiation, with FreeSWITCH's odd extra headers."""
        name = self.codec_name
        self.fire("CODEC", {"channel-read-codec-name": name, "channel-read-codec-rate": "8000",
                            "channel-read-codec-bit-rate": "64000"})
        self.setvars(sipvars.read_codec(name))
        self.fire("CODEC", {"Channel-Write-codec-bit-rate": "64000"})
        self.setvars(sipvars.write_codec(name))

    # -- answer / progress ----------------------------------------------------------------
    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None

    def mark_answered(self) -> None:
        """CHANNEL_ANSWER then CHANNEL_CALLSTATE ACTIVE (idempotent)."""
        if self.answered_at is not None or self.cause:
            return
        self.answered_at = time.time()
        self.answer_state = "answered"
        self.caller["Caller-Channel-Answered-Time"] = str(self.node.clock.stamp(self.answered_at))
        if self.direction == "inbound" and self.dialog is not None:
            self.setvars(sipvars.inbound_answer(self.dialog))
        else:
            self.setvars(sipvars.rtp_started())
        self.fire("CHANNEL_ANSWER")
        if self.direction == "inbound":
            self.set_callstate("ACTIVE", endpoint_disposition="ANSWER")
            if self.dialog is not None:  # what the caller's ACK tells, a moment later
                asyncio.get_running_loop().call_soon(
                    self.setvars, sipvars.inbound_acked(self.dialog))
        else:
            self.setvar("endpoint_disposition", "ANSWER")
            self.set_callstate("ACTIVE")
        if not self.answered.done():
            self.answered.set_result(None)
        self._signal_peer(lambda peer: peer.node.engine.far_answered(self))

    def _signal_peer(self, action) -> None:
        """Tell the SIP peer (the calling leg) after a network delay."""
        peer = self.peer
        if self.direction == "inbound" and peer is not None:
            asyncio.get_running_loop().call_later(
                sample(self.node.config.invite_delay), lambda: action(peer))

    def mark_progress(self, media: bool) -> None:
        """CHANNEL_PROGRESS (ringing) or CHANNEL_PROGRESS_MEDIA (early media)."""
        now = time.time()
        if media:
            if self.progress_media_at is not None or self.answered_at is not None:
                return
            self.progress_media_at = now
            self.answer_state = "early"
            self.caller["Caller-Channel-Progress-Media-Time"] = str(self.node.clock.stamp(now))
            self.fire("CHANNEL_PROGRESS_MEDIA")
            self.set_callstate("EARLY")
            self._signal_peer(lambda peer: peer.node.engine.far_progress(self, True))
        else:
            if self.progress_at is not None or self.answered_at is not None:
                return
            self.progress_at = now
            self.caller["Caller-Channel-Progress-Time"] = str(self.node.clock.stamp(now))
            self.fire("CHANNEL_PROGRESS")
            self._signal_peer(lambda peer: peer.node.engine.far_progress(self, False))

    @property
    def media_ready(self) -> bool:
        """Whether the leg can play media: not an answered calling leg still setting its
        media up (CS_CONSUME_MEDIA, before its ``&park()``), where FreeSWITCH's
        ``playback`` fails (``call_answer_race``)."""
        return not (self.direction == "outbound" and self.state == "CS_CONSUME_MEDIA"
                    and self.is_answered)

    # -- applications --------------------------------------------------------------------
    def enqueue(self, msg: Message) -> None:
        self.inbox.append(msg)
        self.wake.set()

    async def sendmsg(self, headers: dict[str, str], body: str, command: str) -> str | None:
        """Handle an ESL ``sendmsg``; returns an ``-ERR`` text or None for ``+OK``."""
        kind = headers.get("call-command", "execute")
        if kind == "hangup":
            cause = headers.get("hangup-cause", "NORMAL_CLEARING")
            answered = self.is_answered
            self.hangup(cause)
            if answered:
                self._private_command(command, headers)
            return None
        if kind == "execute":
            app = headers.get("execute-app-name", "")
            arg = headers.get("execute-app-arg", "")
            if body and headers.get("content-type", "text/plain") == "text/plain" and not arg:
                arg = body
            if app not in self.node.applications:
                return f"-ERR invalid application {app}" if app else "-ERR no application"
            if self.cause:
                return None
            loops = max(1, cnum.atoi(headers.get("loops", "1")))
            msg = Message(app, arg, headers.get("event-uuid"), command, loops, headers)
            self.enqueue(msg)
            if headers.get("event-lock", "").lower() in ("true", "1", "yes"):
                try:
                    await asyncio.shield(msg.done)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    pass
            return None
        if kind in ("unicast", "nomedia", "xferext"):
            return None
        return f"-ERR invalid command {kind}"

    def _private_command(self, command: str | None, headers: dict[str, str]) -> None:
        """The sendmsg itself, fired once processed (FreeSWITCH's park loop does this for
        answered channels: ``switch_ivr_parse_next_event``)."""
        if not command:
            return
        extra = {"Command": command}
        for k, v in headers.items():
            if k not in ("content-length", "content-type", "event-uuid"):
                extra[k] = v
        if "event-uuid" in headers:
            extra["Event-UUID"] = headers["event-uuid"]
        self.fire("PRIVATE_COMMAND", extra)

    async def execute(self, app: str, arg: str = "", app_uuid: str | None = None) -> str:
        """Run dialplan application ``app`` (CHANNEL_EXECUTE ... EXECUTE_COMPLETE)."""
        app_uuid = app_uuid or str(uuidlib.uuid4())
        arg = self.expand(arg)
        info = {"Application": app}
        if arg:
            info["Application-Data"] = arg
        info["Application-UUID"] = app_uuid
        self.setvar("current_application", app)
        self.unsetvar("current_application_response")
        if arg:
            self.setvar("current_application_data", arg)
        else:
            self.unsetvar("current_application_data")
        self.node.log(7, f"EXECUTE [depth=0] {self.name} {app}({arg})", self.uuid,
                      ("switch_core_session.c", "switch_core_session_exec", 2957))
        self.current_app = app
        self.last_app = app
        self.last_arg = arg or None
        self.fire("CHANNEL_EXECUTE", info)
        response = "_none_"
        func = self.node.applications.get(app)
        try:
            if func is None:
                response = "-ERR invalid application"
            else:
                result = await func(self, arg)
                response = result if isinstance(result, str) else "_none_"
        except Hangup:
            response = getattr(self, "_response_on_hangup", "_none_")
        except Exception:
            log.exception("channel %s: application %s(%s) failed", self.uuid, app, arg)
            response = "-ERR application failed"
        self.current_app = None
        if response != "_none_":
            self.setvar("current_application_response", response)
        done = dict(info)
        done["Application-Response"] = response
        done.pop("Application-UUID")
        done["Application-UUID"] = app_uuid
        self.fire("CHANNEL_EXECUTE_COMPLETE", done)
        return response

    async def run_inbox(self) -> None:
        """Run queued messages until the inbox is empty (or the channel hangs up)."""
        while self.inbox and not self.cause:
            msg = self.inbox.popleft()
            answered = self.is_answered
            try:
                result = "_none_"
                for loop in range(max(1, msg.loops)):
                    if loop and loop % 8 == 0:  # a long loop never holds the whole switch
                        await asyncio.sleep(0)
                    if msg.command:  # set by FreeSWITCH's parse_event for sendmsg execute
                        self.setvars([("current_loop", str(loop + 1)),
                                      ("total_loops", str(max(1, msg.loops)))])
                    result = await self.execute(msg.app, msg.arg, msg.app_uuid)
                    if self.cause:
                        break
                if msg.command:
                    self.unsetvar("current_loop")
                    self.unsetvar("total_loops")
                if answered and not self.cause and msg.after is None:
                    self._private_command(msg.command, msg.headers)
                if msg.after is not None:
                    self.fire(*msg.after)
                if not msg.done.done():
                    msg.done.set_result(result)
            finally:
                if not msg.done.done():
                    msg.done.set_result("_none_")

    async def wait(self, seconds: float | None = None, *, inbox: bool = False) -> bool:
        """Sleep until ``seconds`` pass (None: forever), a hangup, or a break.

        With ``inbox`` queued messages run meanwhile (parked channels do that). Returns
        False if interrupted by a break/transfer; raises :class:`Hangup` on hangup.
        """
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while True:
            if self.cause:
                raise Hangup()
            if self.break_requested or self.transfer_to is not None:
                self.break_requested = False
                return False
            if inbox and self.inbox:
                await self.run_inbox()
                continue
            timeout = None if deadline is None else deadline - loop.time()
            if timeout is not None and timeout <= 0:
                return True
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                return True

    def request_break(self) -> None:
        self.break_requested = True
        self.wake.set()

    # -- hangup ---------------------------------------------------------------------------
    def hangup(self, cause: str = "NORMAL_CLEARING", *, remote: str | None = None,
               remote_cause: str | None = None) -> bool:
        """Start hanging up with ``cause`` (CHANNEL_HANGUP now, the rest in the task).

        ``remote`` says what the far end's signalling did, for the SIP variables
        FreeSWITCH records: ``bye`` (it hung up an answered call), ``cancel`` (the caller
        gave up), ``refuse`` (the callee rejected the INVITE with ``remote_cause``) or
        ``unreachable`` (no one at the address).
        """
        if self.cause is not None:
            return False
        self.cause = cause
        self.hangup_at = time.time()
        self.state_number = 10
        self.answer_state = "hangup"
        self.remote_hangup = remote
        d = self.dialog
        if d is not None and remote is not None:
            self.setvars(sipvars.hangup_signalling(self, d, remote, remote_cause or cause))
        for name, value in self.hangup_extra:
            if value is None:
                self.unsetvar(name)
            else:
                self.setvar(name, value)
        self.node.log(5, f"Hangup {self.name} [{self.state}] [{cause}]", self.uuid,
                      ("switch_channel.c", "switch_channel_perform_hangup", 3464))
        self.fire("CHANNEL_HANGUP")
        if d is not None and remote == "bye":
            self.setvar("sip_hangup_disposition", "recv_bye")
        self.wake.set()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.teardown())
        return True

    async def teardown(self) -> None:
        """CS_HANGUP, CALLSTATE HANGUP, CS_REPORTING, HANGUP_COMPLETE, DESTROY, CS_DESTROY."""
        cause = self.cause or "NORMAL_CLEARING"
        self.set_state("CS_HANGUP", 10)
        end = self.hangup_at or time.time()
        self.caller["Caller-Channel-Hangup-Time"] = str(self.node.clock.stamp(end))
        self.setvars(_hangup_vars(self, cause, end))
        self.set_callstate("HANGUP")
        if self.dialog is not None and self.remote_hangup is None:
            if self.is_answered:
                self.setvar("sip_hangup_disposition", "send_bye")
            elif self.direction == "outbound":
                self.setvars([("sip_hangup_disposition", "send_cancel"),
                              ("sip_invite_failure_status", "487"),
                              ("sip_invite_failure_phrase", "CANCEL")])
            else:
                self.setvar("sip_hangup_disposition", "send_refuse")
        if self.reporting_extra:
            self.setvars(self.reporting_extra)
        if self.is_answered:
            self.setvars(hangup_media(self))
        else:
            self.node.media.hangup(self, end)
        if self.originator is not None:  # a bridge's leg is its own call again at the end
            self.setvar("call_uuid", self.uuid)
        self.set_state("CS_REPORTING", 11)
        self.fire("CHANNEL_HANGUP_COMPLETE")
        for listener in list(self.watchers):  # myevents / outbound sockets: linger or goodbye
            listener.session_ended(self)
        if not self.reported.done():
            self.reported.set_result(cause)
        await asyncio.sleep(0)  # let waiters (originate's result) speak before DESTROY
        self.state_number = 12
        self.fire("CHANNEL_DESTROY")
        self.set_state("CS_DESTROY", 12)
        self.node.channels.pop(self.uuid, None)
        self.node.db.removed(self)
        if not self.destroyed.done():
            self.destroyed.set_result(None)
        for msg in self.inbox:
            if not msg.done.done():
                msg.done.set_result("_none_")
        self.inbox.clear()
        self._tell_peers(cause)

    def _tell_peers(self, cause: str) -> None:
        peer, self.peer = self.peer, None
        if peer is not None and peer.cause is None:
            if peer.peer is self:
                peer.peer = None
            if self.is_answered:
                peer.hangup(cause, remote="bye")
            elif self.direction == "outbound":  # the caller gives up: a CANCEL
                peer.hangup("ORIGINATOR_CANCEL", remote="cancel", remote_cause=cause)
            else:  # the callee refuses the INVITE
                peer.hangup(cause, remote="refuse")
        bridged, self.bridged = self.bridged, None
        if bridged is not None and bridged.bridged is self:
            bridged.bridged = None
            bridged.unbridged(self)

    def unbridged(self, other: Channel) -> None:
        """The bridged partner left: wake the bridge application."""
        self.wake.set()

    # -- watchers (myevents / outbound sockets) ---------------------------------------------
    def watch(self, listener: Listener) -> None:
        self.watchers.add(listener)

    def listener_gone(self, listener: Listener) -> None:
        self.watchers.discard(listener)
        sock = getattr(self, "socket_listener", None)
        if sock is listener:
            self.socket_listener = None
            if not self.resume_after_socket and self.cause is None:
                self.hangup("NORMAL_CLEARING")
            else:
                self.wake.set()

    # -- outbound socket's channel data ------------------------------------------------------
    def channel_data_event(self) -> SimEvent:
        """The CHANNEL_DATA event sent as the ``connect`` reply (Channel-* profile prefix)."""
        profile = {("Channel-" + k[len("Caller-"):]): v for k, v in self.caller.items()}
        return self.node.make_event("CHANNEL_DATA", profile, self.core(), self.codec,
                                    self.caller, self.other, self.vars)

    def dump_event(self) -> SimEvent:
        """What ``uuid_dump`` prints: the channel's headers as a CHANNEL_DATA event."""
        return self.node.make_event("CHANNEL_DATA", self.core(), self.codec, self.caller,
                                    self.other, self.vars,
                                    calling=("switch_channel.c", "switch_channel_event_set_data",
                                             "2785"))

    def __repr__(self) -> str:
        return f"<Channel {self.uuid} {self.direction} {self.state} {self.callstate}>"


def _hangup_vars(ch: Channel, cause: str, end: float) -> list[tuple[str, str]]:
    """hangup_cause ... flow_billusec, as set when the call state becomes HANGUP.

    Every time is read from the node's cached clock (see :class:`~.events.Clock`), as
    FreeSWITCH's are: the ``*_uepoch`` values and durations move in its ticks."""
    clock = ch.node.clock

    def us(t: float | None) -> int:
        return clock.stamp(t) if t else 0

    def stamp(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us(t) // 1_000_000))

    start = ch.created
    code = q850(cause)
    out: list[tuple[str, str]] = [
        ("hangup_cause", cause), ("hangup_cause_q850", str(code if code <= 127 else 16)),
        ("digits_dialed", "none"), ("start_stamp", stamp(start)),
        ("profile_start_stamp", stamp(start)),
    ]
    if ch.answered_at:
        out.append(("answer_stamp", stamp(ch.answered_at)))
    if ch.bridged_at:
        out.append(("bridge_stamp", stamp(ch.bridged_at)))
    if ch.progress_at:
        out.append(("progress_stamp", stamp(ch.progress_at)))
    if ch.progress_media_at:
        out.append(("progress_media_stamp", stamp(ch.progress_media_at)))
    out.append(("end_stamp", stamp(end)))
    for name, t in (("start", start), ("profile_start", start), ("answer", ch.answered_at),
                    ("bridge", ch.bridged_at), ("last_hold", None), ("hold_accum", None),
                    ("resurrect", None), ("progress", ch.progress_at),
                    ("progress_media", ch.progress_media_at), ("end", end)):
        if name == "hold_accum":
            out += [("hold_accum_seconds", "0"), ("hold_accum_usec", "0"),
                    ("hold_accum_ms", "0")]
            continue
        out += [(f"{name}_epoch", str(us(t) // 1_000_000)), (f"{name}_uepoch", str(us(t)))]
    if ch.last_app:
        out.append(("last_app", ch.last_app))
        if ch.last_arg:
            out.append(("last_arg", ch.last_arg))
    cid_name = ch.caller.get("Caller-Caller-ID-Name")
    cid_num = ch.caller.get("Caller-Caller-ID-Number") or ch.cid_number
    out.append(("caller_id", f'"{cid_name}" <{cid_num}>' if cid_name else cid_num))
    t0, t_end = us(start), us(end)

    def since_start(t: float | None) -> int:
        return max(0, us(t) - t0) if t else 0

    total = max(0, t_end - t0)
    bill = max(0, t_end - us(ch.answered_at)) if ch.answered_at else 0
    progress = since_start(ch.progress_at)
    answer = since_start(ch.answered_at)
    wait = answer
    pmedia = since_start(ch.progress_media_at)
    for unit, div in (("sec", 1_000_000), ("msec", 1000), ("usec", 1)):
        d = "duration" if unit == "sec" else ("mduration" if unit == "msec" else "uduration")
        out += [(d, str(total // div)), (f"bill{unit}", str(bill // div)),
                (f"progress{unit}", str(progress // div)),
                (f"answer{unit}", str(answer // div)),
                (f"wait{unit}", str(wait // div)),
                (f"progress_media{unit}", str(pmedia // div)),
                (f"flow_bill{unit}", str(total // div))]
    return out


__all__ = ["CAUSE_TO_SIP", "Channel", "Hangup", "Message"]
