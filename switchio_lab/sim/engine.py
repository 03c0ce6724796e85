"""The call engine of one node: originate, inbound calls, dialplan, transfers."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from typing import TYPE_CHECKING

from . import cnum, sipvars
from .bridging import other_leg
from .causes import is_cause
from .channel import HANGUP_BATCH, Channel, Hangup, Message
from .config import sample
from .dialstring import DialFailed, parse_vars
from .events import Clock

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger("switchio_lab.sim")

_VARS = re.compile(r"^\{([^}]*)\}")


class Engine:
    """Creates channels and runs their lives for one :class:`~switchio_lab.sim.Node`."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._recent: deque[float] = deque()  # session starts in the last second (sps)

    # -- capacity ------------------------------------------------------------------------
    def admit(self) -> str | None:
        """None if a new session may start, else the cause FreeSWITCH gives."""
        cfg = self.node.config
        if len(self.node.channels) >= cfg.max_sessions:
            return "SWITCH_CONGESTION"
        now = time.monotonic()
        recent = self._recent
        while recent and now - recent[0] > 1.0:
            recent.popleft()
        if len(recent) >= cfg.sps:
            return "SWITCH_CONGESTION"
        recent.append(now)
        return None

    # -- originate -----------------------------------------------------------------------
    async def originate(self, args: str) -> str:
        """``originate <url> <&app(arg)|exten> [dialplan] [context] [cid_name] [cid_num]
        [timeout]`` -> ``+OK <uuid>`` or ``-ERR <CAUSE>`` (api text without newline)."""
        url, _, rest = args.strip().partition(" ")
        target = rest.strip()
        if not url or not target:
            raise ValueError("usage")
        variables: dict[str, str] = {}
        m = _VARS.match(url)
        if m:
            variables = parse_vars(m.group(1))
            url = url[m.end():]
        # one endpoint (failover '|' and parallel ',' lists use their first element)
        url = re.split(r"[|,]", url, maxsplit=1)[0]
        words = target.split()
        if target.startswith("&"):
            am = re.match(r"^&([\w-]+)(?:\((.*)\))?(.*)$", target)
            if not am:
                raise ValueError("usage")
            apps = [(am.group(1), am.group(2) or "")]
            words = am.group(3).split()
            extension = None
        else:
            apps = []
            extension = words[0]
            words = words[1:]
        dialplan = words[0] if len(words) > 0 else "XML"
        context = words[1] if len(words) > 1 else "default"
        if len(words) > 2:
            variables.setdefault("origination_caller_id_name", words[2])
        if len(words) > 3:
            variables.setdefault("origination_caller_id_number", words[3])
        if len(words) > 4:
            variables.setdefault("originate_timeout", words[4])
        del dialplan
        try:
            a = await self.call(url, variables)
        except DialFailed as exc:
            return f"-ERR {exc.cause}"
        cause = await self.wait_answer(a, variables)
        if cause is not None:
            return f"-ERR {cause}"
        a.after_answer = (apps, extension, context)  # type: ignore[attr-defined]
        asyncio.get_running_loop().call_soon(a.wake.set)
        return f"+OK {a.uuid}"

    async def call(self, url: str, variables: dict[str, str], *, caller: Channel | None = None
                   ) -> Channel:
        """Create the calling leg for endpoint ``url`` and send the call on its way."""
        endpoint, _, rest = url.partition("/")
        if endpoint == "error":
            raise DialFailed(rest if is_cause(rest) else "NORMAL_CLEARING")
        if endpoint == "user":
            raise DialFailed("USER_NOT_REGISTERED")
        if endpoint not in ("sofia", "loopback"):
            raise DialFailed("CHAN_NOT_IMPLEMENTED")
        if caller is not None and max_forwards(caller) <= 0:  # a loop: no hops left
            raise DialFailed("EXCHANGE_ROUTING_ERROR")
        refused = self.admit()
        if refused:
            raise DialFailed(refused)
        if endpoint == "sofia":
            profile, _, dest = rest.partition("/")
            if profile not in self.node.config.sip or not dest:
                raise DialFailed("INVALID_PROFILE" if dest else "INVALID_URL")
            dest, _, params = dest.partition(";")
            user, _, hostport = dest.partition("@")
            host, _, port_text = hostport.partition(":")
            port = int(port_text) if port_text.isdigit() else 5060
            via = None  # ;fs_path=sip:proxy[:port] sends the INVITE there, Request-URI kept
            for param in params.split(";"):
                if param.startswith("fs_path="):
                    phost, _, pport = param[len("fs_path="):].removeprefix("sip:").partition(":")
                    via = (phost, int(pport) if pport.isdigit() else 5060)
            return await self._sofia(profile, user, host, port, variables, caller, via)
        ext, _, ctx = rest.partition("/")
        return await self._loopback(ext, ctx or "default", variables, caller)

    def _outgoing(self, name: str, user: str, variables: dict[str, str], endpoint: str,
                  dialog: sipvars.Dialog | None, caller: Channel | None) -> Channel:
        node = self.node
        cid_number = variables.get("origination_caller_id_number") or (
            caller.cid_number if caller else "0000000000")
        cid_name = variables.get("origination_caller_id_name") or (
            caller.cid_name if caller else "")
        use_uuid = variables.get("origination_uuid")
        if use_uuid and use_uuid in node.channels:
            # switch_core_session_set_uuid refuses a uuid in use: the new leg keeps its own,
            # FreeSWITCH logs it (CRIT) and the call goes on; the first channel stays found
            node.log(2, f"{name} set UUID={use_uuid} FAILED", "",
                     ("switch_core_session.c", "switch_core_session_outgoing_channel", 0))
            use_uuid = None
        a = Channel(node, direction="outbound", name=name, uuid=use_uuid,
                    dialog=dialog, context=caller.context if caller else "default",
                    destination=user, cid_name=cid_name, cid_number=cid_number,
                    source="mod_sofia" if caller else "src/switch_ivr_originate.c",
                    endpoint=endpoint)
        a.state, a.state_number = "CS_NONE", 1
        a.originator = caller
        if caller is not None:  # a bridge: the new leg copies its originator's profile
            a.caller.update(a.caller_profile(username=True))
            a.caller["Caller-Network-Addr"] = caller.caller.get("Caller-Network-Addr", "")
            a.other.update(other_leg(caller, originator=True))
        else:
            a.caller.update(a.caller_profile(username=False))
        a.setvars([("direction", "outbound"), ("is_outbound", "true"), ("uuid", a.uuid),
                   ("call_uuid", a.uuid), ("session_id", str(a.session_id))])
        if dialog is not None:
            a.setvars([("sip_local_network_addr", dialog.caller_host),
                       ("sip_profile_name", dialog.profile)])
        a.setvars([("video_media_flow", "disabled"), ("audio_media_flow", "disabled"),
                   ("text_media_flow", "disabled"), ("channel_name", name)])
        if dialog is not None:
            a.setvar("sip_destination_url", f"sip:{dialog.req_uri}")
        if caller is not None:
            if dialog is not None:  # mod_sofia passes the caller's SIP X-headers on
                a.setvars([(k[len("variable_"):], v) for k, v in caller.vars.items()
                           if k.startswith("variable_sip_h_")])
            a.setvars([("sip_cid_type", "rpid"),
                       ("max_forwards", str(max_forwards(caller))),
                       ("originator_codec", "PCMU@8000h@20i"), ("originator", caller.uuid),
                       ("signal_bond", caller.uuid),
                       ("switch_m_sdp", caller.getvar("switch_r_sdp") or "")])
        a.fire("CHANNEL_OUTGOING")
        if caller is not None:  # a bridge's leg belongs to its originator's call
            a.setvar("call_uuid", caller.getvar("call_uuid") or caller.uuid)
        a.setvars(variables)
        a.setvar("originate_early_media", "true")
        if caller is not None:
            a.setvar("originating_leg_uuid", caller.uuid)
        a.setvar("originate_endpoint", endpoint)
        a.set_state("CS_INIT", 1)
        if dialog is not None:
            a.setvars(sipvars.outbound_created(dialog))
            a.setvar("audio_media_flow", "sendrecv")
            if caller is not None:  # the offer copies the originator's: no video
                a.setvar("video_media_flow", "inactive")
        a.state_number = 2
        a.fire("CHANNEL_CREATE")
        a.fire("CHANNEL_ORIGINATE")
        a.set_state("CS_ROUTING", 2)
        a.set_state("CS_CONSUME_MEDIA", 7)
        a.task = asyncio.get_running_loop().create_task(self._run_outbound(a))
        return a

    async def _sofia(self, profile: str, user: str, host: str, port: int,
                     variables: dict[str, str], caller: Channel | None,
                     via: tuple[str, int] | None = None) -> Channel:
        node = self.node
        local_port = node.config.sip[profile]
        cid_number = variables.get("origination_caller_id_number") or (
            caller.cid_number if caller else "0000000000")
        dialog = sipvars.Dialog(
            caller_user=cid_number, caller_host=node.config.address, caller_port=local_port,
            callee_user=user, callee_host=host, callee_port=port, profile=profile,
            caller_name=variables.get("origination_caller_id_name") or (
                caller.cid_name if caller else None), bridged=caller is not None,
            codec=caller.codec_name if caller is not None else sipvars.codec_of(variables))
        name = f"sofia/{profile}/{user}@{host}:{port}"
        a = self._outgoing(name, user, variables, "sofia", dialog, caller)
        # the INVITE carries the leg's sip_h_* variables (its own and, for a bridge's leg,
        # its originator's) as SIP headers, and one Max-Forwards less than the caller's
        dialog.headers = {k[len("variable_sip_h_"):]: v for k, v in a.vars.items()
                          if k.startswith("variable_sip_h_")}
        forwards = a.getvar("max_forwards") or ""
        if forwards.isdigit():
            dialog.max_forwards = int(forwards)
        route = node.cluster.route(*(via or (host, port)))
        if route is None:
            a.hangup("NORMAL_TEMPORARY_FAILURE", remote="unreachable")  # an ICMP error
            return a
        target, target_profile = route
        delay = _delay(node.config.invite_delay)
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: target.engine.incoming(a, dialog, target_profile)
                        if a.cause is None else None)
        return a

    async def _loopback(self, ext: str, context: str, variables: dict[str, str],
                        caller: Channel | None) -> Channel:
        a = self._outgoing(f"loopback/{ext}-a", ext, variables, "loopback", None, caller)
        b = Channel(self.node, direction="inbound", name=f"loopback/{ext}-b", context=context,
                    destination=ext, cid_name=a.cid_name, cid_number=a.cid_number,
                    source="mod_loopback", endpoint="loopback")
        a.peer, b.peer = b, a
        b.task = asyncio.get_running_loop().create_task(self._run_inbound(b, fresh=True))
        return a

    async def wait_answer(self, a: Channel, variables: dict[str, str]) -> str | None:
        """Wait for the calling leg's answer; None if answered, else its hangup cause."""
        timeout = float(cnum.positive(variables.get("originate_timeout"), 60))
        if a.cause is None:
            done, _ = await asyncio.wait({a.answered, a.reported}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                a.hangup("NO_ANSWER")
        if a.is_answered and a.cause is None:
            return None
        return await asyncio.shield(a.reported)

    # -- the called leg ---------------------------------------------------------------------
    def incoming(self, a: Channel, dialog: sipvars.Dialog, profile: str) -> None:
        """A SIP INVITE arrives from ``a``: create the inbound leg and run its dialplan."""
        if self.admit() is not None or not self.node.running:
            a.hangup("NORMAL_TEMPORARY_FAILURE", remote="refuse")  # a 503
            return
        node = self.node
        dialog.callee_profile = profile  # the profile whose port the INVITE came to
        name = f"sofia/{profile}/{dialog.caller_user}@{dialog.caller_host}"
        b = Channel(node, direction="inbound", name=name, dialog=dialog,
                    context=node.config.context, destination=dialog.callee_user,
                    cid_name=dialog.caller_name or dialog.caller_user,
                    cid_number=dialog.caller_user)
        a.peer, b.peer = b, a
        b.task = asyncio.get_running_loop().create_task(self._run_inbound(b))

    async def _run_inbound(self, b: Channel, fresh: bool = False) -> None:
        try:
            d = b.dialog
            b.setvars([("direction", "inbound"), ("uuid", b.uuid), ("call_uuid", b.uuid),
                       ("session_id", str(b.session_id))])
            if d is not None:
                b.setvars(sipvars.inbound_new(d))
            b.setvars([("video_media_flow", "disabled"), ("audio_media_flow", "disabled"),
                       ("text_media_flow", "disabled"), ("channel_name", b.name)])
            if d is not None:
                b.setvar("sip_call_id", d.call_id)
            b.hit_dialplan = True
            b.fire("CHANNEL_STATE")
            b.set_codec()
            b.caller.update(b.caller_profile(username=True))
            if d is not None:
                b.setvars(sipvars.inbound_invite(d, b.node.clock.stamp(b.created)))
            b.fire_codec_pair()
            b.setvar("endpoint_disposition", "RECEIVED")
            b.set_state("CS_INIT", 1)
            b.state_number = 2
            b.fire("CHANNEL_CREATE")
            b.state = "CS_ROUTING"
            b.set_callstate("RINGING")
            b.fire("CHANNEL_STATE")
            await self.route(b, b.destination, b.context)
        except Hangup:
            pass
        finally:
            await self._finish(b)

    async def route(self, ch: Channel, destination: str, context: str) -> None:
        """Look up ``destination`` in the dialplan and execute what matched."""
        actions: list[tuple[str, str]] = []
        for rule in self.node.config.dialplan:
            m = rule.match(destination, context)
            if m:
                groups = [m.group(0), *m.groups()]
                ch.setvar("DP_MATCH", "ARRAY::" + "|:".join(g or "" for g in groups))
                actions = [(app, _subst(arg, m)) for app, arg in rule.actions]
                break
        ch.set_state("CS_EXECUTE", 4)
        if not actions:
            ch.hangup("NO_ROUTE_DESTINATION")
            return
        await self.run_apps(ch, actions)

    async def run_apps(self, ch: Channel, actions: list[tuple[str, str]]) -> None:
        for app, arg in actions:
            if ch.cause:
                return
            await ch.execute(app, arg)
            await ch.run_inbox()
            if ch.transfer_to is not None:
                dest, ctx = ch.transfer_to
                ch.transfer_to = None
                ch.destination, ch.context = dest, ctx
                ch.caller["Caller-Destination-Number"] = dest
                ch.caller["Caller-Context"] = ctx
                ch.set_state("CS_ROUTING", 2)
                await self.route(ch, dest, ctx)
                return
        if ch.cause is None:
            await ch.run_inbox()
            if ch.cause is None and ch.transfer_to is None:
                ch.hangup("NORMAL_CLEARING")  # the dialplan ran out of applications

    async def _run_outbound(self, a: Channel) -> None:
        try:
            while a.cause is None and not hasattr(a, "after_answer"):
                a.wake.clear()
                await a.wake.wait()
            if a.cause is None:
                await self._consume_media(a)
            if a.cause is None:
                apps, extension, context = a.after_answer  # type: ignore[attr-defined]
                a.set_state("CS_EXECUTE", 4)
                if extension is not None:
                    a.hit_dialplan = True
                    await self.route(a, extension, context)
                else:
                    await self.run_apps(a, apps)
        except Hangup:
            pass
        finally:
            await self._finish(a)

    def answer_park_delay(self, a: Channel) -> float:
        """Seconds from now until the answered calling leg ``a`` parks: the configured
        ``answer_park_delay``, or (None) FreeSWITCH's: 0, 1 or 2 ticks of the event clock
        after the answer's tick, drawn with ``answer_park_ticks``' weights. A 0-tick park
        comes later in the answer's own tick; the others just after the tick starts, so
        the CHANNEL_PARK's timestamp is the answer's plus that many ticks."""
        cfg = self.node.config
        if cfg.answer_park_delay is not None:
            return sample(cfg.answer_park_delay)
        rng = self.node.random
        ticks = rng.choices(range(len(cfg.answer_park_ticks)), cfg.answer_park_ticks)[0]
        a.park_ticks = ticks
        grid = self.node.clock if self.node.clock.tick_us > 0 else Clock(0.02, self.node.started)
        # counted from now, just after the CHANNEL_ANSWER was stamped (in this tick, or the
        # one before if it fell on the edge): the park is never fewer ticks after it
        now = time.time()
        tick = grid.tick_us / 1e6
        next_tick = grid.seconds(now) + tick
        if ticks == 0:
            return (next_tick - now) * rng.uniform(0.2, 0.8)
        return next_tick + (ticks - 1) * tick + min(0.001, tick / 4) - now

    async def _consume_media(self, a: Channel) -> None:
        """The calling leg's media setup after its answer, before its ``&park()`` (or
        extension) starts: :meth:`answer_park_delay` seconds in CS_CONSUME_MEDIA.

        Messages sent to the leg meanwhile run there and then, in CS_CONSUME_MEDIA, as
        FreeSWITCH runs them (``call_answer_race``): ``playback`` fails with ``PLAYBACK
        ERROR`` (see :attr:`Channel.media_ready`; some first send PLAYBACK_START/STOP), and
        an application still running when the window closes is broken off, as the state
        change breaks it."""
        delay = self.answer_park_delay(a)
        if delay <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        a.media_at = time.time() + delay
        while a.cause is None:
            if a.inbox:
                timer = loop.call_at(deadline, a.request_break)
                try:
                    await a.run_inbox()
                finally:
                    timer.cancel()
                    a.break_requested = False
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            a.wake.clear()
            try:
                await asyncio.wait_for(a.wake.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _finish(self, ch: Channel) -> None:
        if ch.cause is None:
            ch.hangup("NORMAL_CLEARING")
        await ch.teardown()

    # -- answering from the far side ---------------------------------------------------------
    def far_answered(self, b: Channel) -> None:
        """The called leg ``b`` answered: its SIP peer (the calling leg) learns it."""
        a = b.peer
        if a is None or a.cause is not None or a.is_answered:
            return
        if a.dialog is not None:
            a.set_codec()
            a.caller["Caller-Network-Addr"] = a.dialog.callee_host
            a.caller["Caller-Callee-ID-Name"] = a.destination
            a.setvars(sipvars.outbound_answered(a.dialog))
            a.fire_codec_pair()
        a.mark_answered()
        if a.originator is not None:  # a bridge's leg: no caller id flip, bridge() goes on
            return
        # FreeSWITCH flips the caller id of the calling leg once answered (CALL_UPDATE)
        a.callee_direction = "RECV"
        a.hit_dialplan = True
        if a.cid_name:
            a.setvar("pre_transfer_caller_id_name", a.cid_name)
        a.setvar("pre_transfer_caller_id_number", a.cid_number)
        a.setvar("channel_cid_flipped", "yes")
        if a.cid_name:
            a.caller["Caller-Callee-ID-Name"] = a.cid_name
        else:
            a.caller.pop("Caller-Callee-ID-Name", None)
        a.caller["Caller-Caller-ID-Name"] = a.destination
        a.caller["Caller-Caller-ID-Number"] = a.destination
        a.caller["Caller-Callee-ID-Number"] = a.cid_number
        a.fire("CALL_UPDATE", {"Direction": "RECV"})

    def far_progress(self, b: Channel, media: bool) -> None:
        a = b.peer
        if a is not None and a.cause is None:
            a.mark_progress(media)

    # -- bulk -------------------------------------------------------------------------------
    async def hupall(self, cause: str = "MANAGER_REQUEST", var: str | None = None,
                     value: str | None = None) -> int:
        chans = [c for c in list(self.node.channels.values())
                 if var is None or c.getvar(var) == value]
        for i, ch in enumerate(chans):
            if i and i % HANGUP_BATCH == 0:  # thousands of hangups never hold the loop
                await asyncio.sleep(0)
            ch.hangup(cause)
        if chans:
            await asyncio.gather(*(asyncio.shield(c.destroyed) for c in chans),
                                 return_exceptions=True)
        return len(chans)


def max_forwards(caller: Channel) -> int:
    """What is left for a new leg of ``caller``: its ``max_forwards`` less one
    (switch_core_session_outgoing_channel; 70 if unset). 0 or less: a routing loop."""
    try:
        return int(caller.getvar("max_forwards") or 71) - 1
    except ValueError:
        return 69


def _delay(value) -> float:
    return sample(value)


def _subst(arg: str, m: re.Match[str]) -> str:
    def rep(mm: re.Match[str]) -> str:
        i = int(mm.group(1))
        try:
            return m.group(i) or ""
        except IndexError:
            return ""
    return re.sub(r"\$(\d)", rep, arg)


__all__ = ["Engine", "Message"]
