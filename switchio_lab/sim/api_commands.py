"""``api`` / ``bgapi`` commands of the embedded switch.

Each command decides what to say from the node's state; :mod:`.fs_text` says it the
way FreeSWITCH does. Every command fires an ``API`` event; ``bgapi`` also fires
``BACKGROUND_JOB`` with the result as body.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..esl import Event
from . import fs_text as T
from .bridging import link
from .causes import is_cause
from .channel import HANGUP_BATCH, Channel, Message
from .dialstring import DialFailed
from .listener import LOG_LEVELS

if TYPE_CHECKING:
    from .listener import Listener
    from .node import Node

log = logging.getLogger("switchio_lab.sim")

Command = Callable[["Api", str], Awaitable[str]]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = func
        return func
    return register


def uuid_command(name: str, *, words: int = 1, maxsplit: int = -1,
                 missing: str | Callable[[], str] = T.NO_SUCH_CHANNEL
                 ) -> Callable[[Callable[..., Awaitable[str]]], Command]:
    """An api command on one channel: ``<uuid> ...`` with at least ``words`` words.

    Too few words answer the command's ``-USAGE``; an unknown uuid answers ``missing``
    (each command has its own text in FreeSWITCH). The function gets ``(api, channel,
    words)``.
    """
    def register(func: Callable[..., Awaitable[str]]) -> Command:
        async def run(api: Api, args: str) -> str:
            parts = args.split(None, maxsplit) if args else []
            if len(parts) < words:
                return T.usage(name)
            ch = api.channel(parts[0])
            if ch is None:
                return missing() if callable(missing) else missing
            return await func(api, ch, parts)
        run.__name__ = func.__name__
        run.__doc__ = func.__doc__
        COMMANDS[name] = run
        return run
    return register


class Api:
    """The api command interpreter of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.verbose_events = node.config.verbose_events
        self.loglevel = 7

    async def execute(self, line: str, listener: Listener | None = None) -> str:
        """Run ``line`` (``<command> [args]``); return the api/response body."""
        name, _, args = line.strip().partition(" ")
        args = args.strip()
        func = COMMANDS.get(name)
        if func is None:
            return T.command_not_found(name)
        try:
            body = await func(self, args)
        except Exception:
            log.exception("api %s failed", line)
            body = f"-ERR {name} failed\n"
        extra = {"API-Command": name}
        if args:
            extra["API-Command-Argument"] = args
        self.node.fire("API", extra)
        return T.esl_api_body(body)

    async def background(self, line: str, job_uuid: str) -> None:
        """``bgapi``: run ``line`` and report by BACKGROUND_JOB."""
        name, _, args = line.strip().partition(" ")
        body = await self.execute(line)
        extra = {"Job-UUID": job_uuid, "Job-Command": name}
        if args.strip():
            extra["Job-Command-Arg"] = args.strip()
        self.node.fire("BACKGROUND_JOB", extra, body=body)

    # -- helpers -------------------------------------------------------------------------
    def channel(self, uuid: str) -> Channel | None:
        ch = self.node.channels.get(uuid)
        return ch if ch is not None and ch.state != "CS_DESTROY" else None

    def channel_row(self, ch: Channel) -> dict[str, str]:
        epoch = self.node.clock.stamp(ch.created) // 1_000_000
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
        originated = ch.direction == "outbound"
        dialog = ch.dialog
        ip = dialog.caller_host if dialog and ch.direction == "inbound" else (
            ch.caller.get("Caller-Network-Addr", "") if ch.originator is not None else "")
        return {
            "uuid": ch.uuid, "direction": ch.direction, "created": created,
            "created_epoch": str(epoch), "name": ch.name, "state": ch.state,
            "cid_name": ch.caller.get("Caller-Caller-ID-Name", ch.cid_name or ""),
            "cid_num": ch.caller.get("Caller-Caller-ID-Number", ch.cid_number),
            "ip_addr": ip, "dest": ch.destination,
            "application": ch.last_app or "", "application_data": ch.last_arg or "",
            "dialplan": "" if originated and ch.originator is None else "XML",
            "context": ch.context,
            "read_codec": ch.codec.get("Channel-Read-Codec-Name", ""),
            "read_rate": ch.codec.get("Channel-Read-Codec-Rate", ""),
            "read_bit_rate": ch.codec.get("Channel-Read-Codec-Bit-Rate", ""),
            "write_codec": ch.codec.get("Channel-Write-Codec-Name", ""),
            "write_rate": ch.codec.get("Channel-Write-Codec-Rate", ""),
            "write_bit_rate": ch.codec.get("Channel-Write-Codec-Bit-Rate", ""),
            "secure": "", "hostname": self.node.config.hostname, "presence_id": "",
            "presence_data": "", "accountcode": "", "callstate": ch.callstate,
            "callee_name": ch.caller.get("Caller-Callee-ID-Name", ""),
            "callee_num": ch.caller.get("Caller-Callee-ID-Number", ""),
            "callee_direction": ch.callee_direction,
            "call_uuid": ch.uuid if ch.direction == "outbound" or ch.bridged_at else "",
            "sent_callee_name": ch.getvar("last_sent_callee_id_name") or "",
            "sent_callee_num": ch.getvar("last_sent_callee_id_number") or "",
            "initial_cid_name": ch.cid_name, "initial_cid_num": ch.cid_number,
            "initial_ip_addr": ip, "initial_dest": ch.destination,
            "initial_dialplan": "" if originated and ch.originator is None else "XML",
            "initial_context": ch.context,
        }


def _split(args: str, n: int = 1) -> list[str]:
    return args.split(None, n) if args else []


# -- system -----------------------------------------------------------------------------------
@command("status")
async def _status(api: Api, args: str) -> str:
    node = api.node
    return T.status(time.time() - node.started, sessions_since_start=node.sessions_since_start,
                    sessions_now=len(node.channels), peak=node.peak_sessions,
                    peak_5min=node.peak_sessions, sps_max=node.config.sps,
                    max_sessions=node.config.max_sessions)


@command("version")
async def _version(api: Api, args: str) -> str:
    return T.version(args)


@command("uptime")
async def _uptime(api: Api, args: str) -> str:
    return T.uptime(time.time() - api.node.started, args)


@command("hostname")
async def _hostname(api: Api, args: str) -> str:
    return T.hostname(api.node.config.hostname)


@command("create_uuid")
async def _create_uuid(api: Api, args: str) -> str:
    return T.create_uuid(str(uuidlib.uuid4()))


@command("echo")
async def _echo(api: Api, args: str) -> str:
    return T.echo(args)


@command("eval")
async def _eval(api: Api, args: str) -> str:
    variables = dict(api.node.variables)

    def rep(m: re.Match[str]) -> str:
        return variables.get(m.group(1), "")

    def expand() -> str:
        return T.echo(re.sub(r"\$\{([^}]+)\}", rep, args))
    return await _off_loop(len(args) > 65536, expand)  # 250k ${...} took 1.4 s on the loop


@command("global_getvar")
async def _global_getvar(api: Api, args: str) -> str:
    if not args:
        return "".join(f"{k}={v}\n" for k, v in api.node.variables.items())
    return T.global_getvar(api.node.variables.get(args))


@command("global_setvar")
async def _global_setvar(api: Api, args: str) -> str:
    name, sep, value = args.partition("=")
    if not sep or not name.strip():
        return T.usage("global_setvar")
    api.node.variables[name.strip()] = value.strip()
    return T.OK


#: the FreeSWITCH modules whose behaviour the embedded switch models
MODULES = frozenset({"mod_commands", "mod_dptools", "mod_event_socket", "mod_sofia",
                     "mod_loopback", "mod_tone_stream", "mod_sndfile", "mod_dialplan_xml"})


@command("module_exists")
async def _module_exists(api: Api, args: str) -> str:
    return "true" if args.strip() in MODULES else "false"


@command("reloadxml")
async def _reloadxml(api: Api, args: str) -> str:
    return T.reloadxml()


@command("reload")
async def _reload(api: Api, args: str) -> str:
    """``reload [-f] <module>``: unload, reload the XML, load (mod_commands).

    Of the modules modelled, reloading ``mod_event_socket`` has an effect: every Event
    Socket connection of the node is dropped (this one once its reply is sent) and the
    listening socket reopens (see :meth:`~switchio_lab.sim.Node.reload_event_socket`).
    A module that is not loaded answers FreeSWITCH's two errors.
    """
    words = args.split()
    if words and words[0].startswith("-"):  # -f: force (nothing to force here)
        words = words[1:]
    if not words:
        return T.usage("reload")
    module = words[0]
    if module not in MODULES:
        return T.reload_module(unloaded=T.NO_SUCH_MODULE, loaded=T.LOAD_FILE_ERROR)
    if module == "mod_event_socket":
        api.node.reload_event_socket()
    return T.reload_module()


@command("fsctl")
async def _fsctl(api: Api, args: str) -> str:
    words = args.split()
    if not words:
        return T.usage("fsctl")
    cfg = api.node.config
    sub = words[0]
    if sub == "sps":
        if len(words) > 1 and words[1].isdigit():
            cfg.sps = int(words[1])
        return T.fsctl_sps(cfg.sps)
    if sub == "max_sessions":
        if len(words) > 1 and words[1].isdigit():
            cfg.max_sessions = int(words[1])
        return T.fsctl_max_sessions(cfg.max_sessions)
    if sub == "verbose_events":
        if len(words) > 1:
            api.verbose_events = words[1].lower() in ("on", "true", "yes", "1")
        return T.fsctl_verbose_events(api.verbose_events)
    if sub == "loglevel":
        if len(words) < 2:  # FreeSWITCH echoes "no level given" as -1
            return T.fsctl_loglevel(-1)
        w = words[1].lower()
        if w.isdigit():
            api.loglevel = int(w)
        elif w in LOG_LEVELS:
            api.loglevel = LOG_LEVELS[w]
        else:
            return T.FSCTL_LOGLEVEL_ERROR
        return T.fsctl_loglevel(api.loglevel)
    if sub == "hupall":
        await api.node.engine.hupall("MANAGER_REQUEST")
        return T.FSCTL_OK
    return T.fsctl_invalid()


#: rows built per loop iteration, and the size from which a table is formatted off the loop
#: (``show channels as xml`` of 4,000 channels held the loop 1.5 s: issue 15)
BATCH = 200
ROWS_PER_STEP = 50


async def _off_loop(big: bool, fn: Callable[..., str], *args: object, **kw: object) -> str:
    """``fn(*args, **kw)``; in a worker thread when ``big`` (pure formatting of a snapshot:
    the loop keeps running, the GIL is handed back every switch interval)."""
    if big:
        return await asyncio.to_thread(fn, *args, **kw)
    return fn(*args, **kw)


@command("show")
async def _show(api: Api, args: str) -> str:
    words = args.split()
    if not words or words[0] not in ("channels", "calls"):
        return T.usage("show")
    what = words[0]
    fmt = "delim"
    count = "count" in words[1:]
    if "as" in words:
        i = words.index("as")
        fmt = words[i + 1] if i + 1 < len(words) else "delim"
    chans = api.node.db.channels()  # the core database: it lags the events
    rows = []
    for i, c in enumerate(chans):
        if i and i % ROWS_PER_STEP == 0:  # thousands of channels never hold the loop in one go
            await asyncio.sleep(0)
        rows.append(api.channel_row(c))
    big = len(rows) > BATCH and not count
    if what == "channels":
        return await _off_loop(big, T.show_channels, rows, fmt, count=count)
    calls = []
    for c in chans:
        other = c.bridged
        if other is not None and c.bridged_at and c.direction == "inbound":
            calls.append((c.uuid, other.uuid,
                          str(api.node.clock.stamp(c.bridged_at) // 1_000_000)))
    return await _off_loop(big, T.show_calls, T.calls_rows(rows, calls), fmt, count=count)


@command("sofia")
async def _sofia(api: Api, args: str) -> str:
    words = args.split()
    cfg = api.node.config
    if not words or words[0] != "status":
        return T.SOFIA_INVALID_SYNTAX if words else T.SOFIA_INVALID_SYNTAX
    if len(words) >= 3 and words[1] == "profile":
        name = words[2]
        if name not in cfg.sip:
            return T.SOFIA_INVALID_PROFILE
        return T.sofia_status_profile(
            name, T.default_profile_settings(name, cfg.address, cfg.sip[name],
                                             context=cfg.context))
    profiles = [(name, f"sip:mod_sofia@{cfg.address}:{port}", T.profile_state())
                for name, port in sorted(cfg.sip.items())]
    return T.sofia_status(profiles)


# -- calls ------------------------------------------------------------------------------------
@command("originate")
async def _originate(api: Api, args: str) -> str:
    try:
        result = await api.node.engine.originate(args)
    except ValueError:
        return T.usage("originate")
    except DialFailed as exc:
        return T.originate_error(exc.cause)
    return result + "\n"


@command("hupall")
async def _hupall(api: Api, args: str) -> str:
    words = args.split()
    cause = words[0] if words and is_cause(words[0]) else "MANAGER_REQUEST"
    pairs = list(zip(words[1::2], words[2::2], strict=False))
    chans = [c for c in list(api.node.channels.values())
             if all(c.getvar(k) == v for k, v in pairs)]
    for i, ch in enumerate(chans):
        if i and i % HANGUP_BATCH == 0:  # 4,000 hangups in one go held the loop 8 s
            await asyncio.sleep(0)
        ch.hangup(cause)
    return T.hupall(cause, pairs)


@uuid_command("uuid_kill")
async def _uuid_kill(api: Api, ch: Channel, words: list[str]) -> str:
    cause = words[1] if len(words) > 1 and is_cause(words[1]) else "NORMAL_CLEARING"
    ch.hangup(cause)
    return T.OK


@command("uuid_answer")
async def _uuid_answer(api: Api, args: str) -> str:
    ch = api.channel(args.split()[0]) if args else None
    if ch is None:
        return T.ERROR if args else T.usage("uuid_answer") if "uuid_answer" in T.SYNTAX else \
            T.ERROR
    ch.mark_answered()
    return T.OK


@command("uuid_pre_answer")
async def _uuid_pre_answer(api: Api, args: str) -> str:
    ch = api.channel(args.split()[0]) if args else None
    if ch is None:
        return T.ERROR
    ch.mark_progress(media=True)
    return T.OK


@command("uuid_exists")
async def _uuid_exists(api: Api, args: str) -> str:
    return T.uuid_exists(bool(args) and api.channel(args.split()[0]) is not None)


@uuid_command("uuid_getvar", words=2)
async def _uuid_getvar(api: Api, ch: Channel, words: list[str]) -> str:
    return T.uuid_getvar(ch.getvar(words[1]))


@uuid_command("uuid_setvar", words=2, maxsplit=2)
async def _uuid_setvar(api: Api, ch: Channel, words: list[str]) -> str:
    if len(words) > 2:
        ch.setvar(words[1], words[2])
    else:
        ch.unsetvar(words[1])
    return T.OK


@uuid_command("uuid_setvar_multi", words=2, maxsplit=1, missing=T.uuid_setvar_multi_no_channel)
async def _uuid_setvar_multi(api: Api, ch: Channel, words: list[str]) -> str:
    for pair in words[1].split(";"):
        name, sep, value = pair.partition("=")
        if name.strip():
            if value:
                ch.setvar(name.strip(), value)
            else:
                ch.unsetvar(name.strip())
    return T.OK


@uuid_command("uuid_dump")
async def _uuid_dump(api: Api, ch: Channel, words: list[str]) -> str:
    fmt = words[1].lower() if len(words) > 1 else "txt"
    if fmt in ("json", "xml"):  # switch_event_serialize_json / switch_event_xmlize: the
        # CHANNEL_DATA event's body in that event format, as an event-json/xml frame has it
        dump = ch.dump_event()
        return Event.from_headers(dump.headers(), dump.body).serialize(fmt).decode("utf-8")
    return T.uuid_dump(ch.dump_event().headers(), fmt)


@command("uuid_bridge")
async def _uuid_bridge(api: Api, args: str) -> str:
    words = args.split()
    if len(words) < 2:
        return T.usage("uuid_bridge")
    a, b = api.channel(words[0]), api.channel(words[1])
    if a is None or b is None:
        return T.INVALID_UUID
    a.mark_answered()
    b.mark_answered()
    a.enqueue(Message("park"))
    link(a, b)
    return T.uuid_bridge_ok(b.uuid)


@uuid_command("uuid_broadcast", words=2, missing=T.INVALID_UUID_BROADCAST)
async def _uuid_broadcast(api: Api, ch: Channel, words: list[str]) -> str:
    path = words[1]
    leg = words[2] if len(words) > 2 else "aleg"
    targets = [ch]
    far = ch.bridged or ch.peer
    if leg in ("bleg", "both") and far is not None:
        targets = [far] if leg == "bleg" else [ch, far]
    for target in targets:
        app, _, arg = path.partition("::")
        msg = Message(app, arg) if "::" in path else Message("playback", path)
        msg.command = "broadcast"  # a private message, like sendmsg (loop variables)
        msg.after = ("COMMAND", {"call-command": "execute", "execute-app-name": msg.app,
                                 "execute-app-arg": msg.arg})
        target.enqueue(msg)
        if target.current_app not in ("park", None):
            target.request_break()
    return T.OK_MESSAGE_SENT


@uuid_command("uuid_break")
async def _uuid_break(api: Api, ch: Channel, words: list[str]) -> str:
    if ch.current_app not in (None, "park"):
        ch.request_break()
    if len(words) > 1 and words[1] == "all":
        ch.inbox.clear()
    return T.OK


@command("uuid_park")
async def _uuid_park(api: Api, args: str) -> str:
    ch = api.channel(args.split()[0]) if args else None
    if ch is None:
        return T.NO_SUCH_CHANNEL if args else T.usage("uuid_park")
    ch.inbox.clear()
    ch.enqueue(Message("park"))
    if ch.current_app not in (None, "park"):
        ch.request_break()
    return T.OK


@uuid_command("uuid_transfer", words=2)
async def _uuid_transfer(api: Api, ch: Channel, words: list[str]) -> str:
    rest = words[1:]
    if rest[0] in ("-bleg", "-both"):
        rest = rest[1:]
    if not rest:
        return T.usage("uuid_transfer")
    dest = rest[0]
    context = rest[2] if len(rest) > 2 else ch.context
    ch.transfer_to = (dest, context)
    ch.wake.set()
    return T.OK


@uuid_command("uuid_record", words=3, missing=T.CANNOT_LOCATE_SESSION)
async def _uuid_record(api: Api, ch: Channel, words: list[str]) -> str:
    action, path = words[1], words[2]
    if action == "start":
        ch.node.media.start_record(ch, path)
        return T.OK_SUCCESS
    if action == "stop":
        if not ch.node.media.stop_record(ch, path, "success-maxtime"):
            return T.CANNOT_STOP_RECORD
        return T.OK_SUCCESS
    return T.usage("uuid_record")


@uuid_command("uuid_send_dtmf", words=2, missing=T.CANNOT_LOCATE_SESSION)
async def _uuid_send_dtmf(api: Api, ch: Channel, words: list[str]) -> str:
    far = ch.bridged or ch.peer
    if far is not None:
        far.node.media.dtmf(far, words[1].split("@")[0], sender=ch)
    return T.uuid_send_dtmf_ok(ch.uuid, words[1])


@command("uuid_hold")
async def _uuid_hold(api: Api, args: str) -> str:
    words = args.split()
    if not words:
        return T.uuid_hold_usage()
    mode = "on"
    if words[0] in ("off", "toggle"):
        mode = words.pop(0)
    ch = api.channel(words[0]) if words else None
    if ch is None:
        return T.OPERATION_FAILED
    held = ch.callstate == "HELD"
    if mode == "toggle":
        mode = "off" if held else "on"
    if mode == "on" and not held:
        ch.set_callstate("HELD")
    elif mode == "off" and held:
        ch.set_callstate("ACTIVE")
    return T.OK


@command("uuid_phone_event")
async def _uuid_phone_event(api: Api, args: str) -> str:
    return T.OK
