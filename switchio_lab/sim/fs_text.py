"""The exact text FreeSWITCH 1.11 answers to Event Socket ``api`` commands.

Pure functions and constants, no I/O: given the same data, each produces the body of the
``api/response`` (or the ``BACKGROUND_JOB`` body of a ``bgapi``) byte for byte as a real
FreeSWITCH 1.11.3-dev does. The embedded switch decides *what* to say (it owns the state);
this module only says it the way FreeSWITCH does.

Where each text comes from ("capture" = equal byte for byte to a body in the golden
captures of ``shared/fixtures/freeswitch``, tested in ``tests/test_sim_api_text.py``;
"source" = taken from FreeSWITCH's ``mod_commands.c`` / ``mod_sofia.c`` /
``mod_event_socket.c``, no capture shows it):

==========================================  ===========  ====================================
text                                         from         where
==========================================  ===========  ====================================
``status`` (all 8 lines, trailing spaces)    capture      commands, before_auth, outbound
``version`` (no argument)                    capture      commands
``version short`` / ``version <other>``      source       version_function
``uptime`` (seconds)                         capture      commands
``uptime <unit>``, its ``-USAGE``            source       uptime_function
``hostname``, ``create_uuid``, ``echo``,     capture      commands (no trailing newline)
``eval`` (expanded value)
``show channels`` / ``show calls`` (rows)    capture      call_media, call_bridge
``show ...`` with no rows (csv and json)     capture      commands
``show ... count``                           capture      commands (0 rows); N > 0: source
``show ... as json`` with rows               source       cJSON_PrintUnformatted
``show calls`` row join (``calls_rows``)     capture      call_media, call_bridge
``sofia status``                             capture      commands
``sofia status profile <name>``              capture      commands (optional rows: source)
``uuid_dump`` / plain event serialization    capture      call_media (+ all plain events)
``-ERR No such channel!``                    capture      uuid_kill/getvar/dump, missing
``-ERROR`` (uuid_answer)                     capture      commands
``-ERR Invalid uuid`` (uuid_bridge)          capture      commands
``+OK`` uuid_kill/answer/setvar              capture      call_basic, call_media
``uuid_getvar`` value                        capture      call_media
``uuid_exists`` ``false``                    capture      commands (``true``: source)
``+OK Success`` uuid_record start/stop       capture      call_media
``+OK <uuid> sent DTMF <digits>.``           capture      call_media
``+OK Message sent`` (uuid_broadcast)        capture      call_media
``hupall`` (no matching vars)                capture      commands
``fsctl sps/max_sessions/verbose_events/     capture      commands
loglevel``
``reloadxml`` ``+OK [Success]``              capture      commands
``reload <module>`` (3 lines, errors)        source       reload_function;
                                                          switch_loadable_module.c
``-ERR <cmd> Command not found!``            capture      commands (api and bgapi)
``-ERR no reply`` (empty output)             capture      commands (global_getvar unset)
``originate``: ``+OK <uuid>``, ``-ERR        capture      call_*, commands, call_failures
<CAUSE>``, ``-USAGE``
``bgapi`` Reply-Text ``+OK Job-UUID: <u>``   capture      commands
all other ``-USAGE:`` texts                  source       ``#define *_SYNTAX``
other error/success texts of the uuid_*      source       mod_commands.c
commands, fsctl subcommands, hupall
matching variants
==========================================  ===========  ====================================

Surprises worth knowing (all reproduced here):

* ``status`` has a trailing space on its 4th and 5th lines; the first line counts years of
  365 days and never pluralises ``1`` (``1 minute``, ``1 second`` ...).
* ``hostname``, ``create_uuid``, ``uuid_exists``, ``uuid_getvar``, ``eval`` and ``echo``
  answer without a trailing newline; an empty answer becomes ``-ERR no reply\\n`` (added by
  mod_event_socket, see :func:`esl_api_body`).
* ``show ...`` with no rows prints no header: ``"\\n0 total.\\n"``; the JSON form with no
  rows is the literal ``{"row_count": 0}\\n`` (with a space and a newline) while with rows
  it is cJSON's unformatted text (no spaces, no newline). ``show ... count as json`` always
  returns ``{"row_count":N,"rows":[]}``.
* ``show calls`` is a join: a bridge's caller row carries the callee in ``b_*`` columns and
  the callee has no row of its own, so 4 channels can be ``3 total.``; legs of a call made
  over SIP (FreeSWITCH calling itself) are separate rows.
* ``sofia status`` right-aligns names in 25 columns and data in 40 (after two spaces);
  ``sofia status profile`` pads labels to 17 columns before a tab, except FreeSWITCH's own
  ``WS-BIND-URL`` label which is one space short.
* ``uuid_dump`` values are URL-encoded (``@`` → ``%40``, ``:`` → ``%3A``, space → ``%20``,
  but ``,`` ``/`` ``~`` ``(`` are kept), an existing ``%XX`` (upper-case hex) is *not*
  re-encoded, and the dump ends with an empty line.
* ``uuid_broadcast`` says ``-ERR invalid uuid`` (lower case) where ``uuid_bridge`` says
  ``-ERR Invalid uuid``; ``uuid_answer`` says ``-ERROR``; ``uuid_record`` and
  ``uuid_send_dtmf`` say ``-ERR Cannot locate session!`` instead of ``No such channel``.
* ``uuid_hold`` with no argument prints its usage *and* ``-ERR Operation failed``;
  ``uuid_setvar_multi`` on a missing channel prints ``-ERR No such channel!`` *and* its
  usage.
* ``originate`` to an unknown endpoint type answers ``-ERR CHAN_NOT_IMPLEMENTED``; a bare
  ``api`` (no command) is not an api/response at all but the command/reply
  ``-ERR command not found``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# --- versions (the captured FreeSWITCH) ----------------------------------------------------

#: ``switch_version_full()``
VERSION_FULL = "1.11.3-dev+git~20260821T141014Z~cc93a683ca~64bit"
#: ``switch_version_revision_human()``
VERSION_REVISION_HUMAN = "git cc93a68 2026-08-21 14:10:14Z 64bit"
#: ``switch_version_full_human()``: what ``status`` shows
VERSION_FULL_HUMAN = "1.11.3-dev git cc93a68 2026-08-21 14:10:14Z 64bit"
#: major.minor.micro: ``version short``
VERSION_SHORT = "1.11.3"

# --- generic replies -----------------------------------------------------------------------

OK = "+OK\n"
OK_SUCCESS = "+OK Success\n"
OK_MESSAGE_SENT = "+OK Message sent\n"
ERROR = "-ERROR\n"  #: uuid_answer / uuid_pre_answer on a missing channel or failure
ERR = "-ERR\n"  #: uuid_transfer when the transfer fails
NO_SUCH_CHANNEL = "-ERR No such channel!\n"
CANNOT_LOCATE_SESSION = "-ERR Cannot locate session!\n"  #: uuid_record, uuid_send_dtmf
INVALID_UUID = "-ERR Invalid uuid\n"  #: uuid_bridge
INVALID_UUID_BROADCAST = "-ERR invalid uuid\n"  #: uuid_broadcast (sic, lower case)
OPERATION_FAILED = "-ERR Operation failed\n"  #: uuid_hold, uuid_send_dtmf
NO_VARIABLE_SPECIFIED = "-ERR No variable specified\n"  #: uuid_setvar(_multi)
NO_VARIABLE_NAME = "-ERR No variable name specified!\n"  #: uuid_getvar
CANNOT_RECORD = "-ERR Cannot record session!\n"
CANNOT_STOP_RECORD = "-ERR Cannot stop record session!\n"
CANNOT_MASK_RECORD = "-ERR Cannot mask recording session!\n"
CANNOT_UNMASK_RECORD = "-ERR Cannot unmask recording session!\n"
UNDEF = "_undef_"  #: uuid_getvar of an unset variable (no newline)
#: mod_event_socket's body for a command whose output is empty (e.g. global_getvar unset)
NO_REPLY = "-ERR no reply\n"
#: command/reply Reply-Text (not an api/response) for ``api`` with no command, and for any
#: command before auth
ESL_COMMAND_NOT_FOUND = "-ERR command not found"
#: sofia status errors
SOFIA_INVALID_PROFILE = "Invalid Profile!\n"
SOFIA_INVALID_SYNTAX = "Invalid Syntax!\n"


def command_not_found(cmd: str) -> str:
    """Body for ``api <cmd>`` (and the bgapi BACKGROUND_JOB body) of an unknown command."""
    return f"-ERR {cmd} Command not found!\n"


def esl_api_body(output: str) -> str:
    """What mod_event_socket sends for a command's output: empty becomes ``-ERR no reply``."""
    return output if output else NO_REPLY


def bgapi_reply(job_uuid: str) -> str:
    """``Reply-Text`` of the command/reply to ``bgapi`` (also sent as a ``Job-UUID`` header)."""
    return f"+OK Job-UUID: {job_uuid}"


# --- usage texts (``#define *_SYNTAX`` of mod_commands.c) ------------------------------------

ORIGINATE_SYNTAX = (
    "<call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
    "[<cid_name>] [<cid_num>] [<timeout_sec>]"
)
CTL_SYNTAX = (
    "[recover|send_sighup|hupall|pause [inbound|outbound]|resume [inbound|outbound]|"
    "shutdown [cancel|elegant|asap|now|restart]|sps|sps_peak_reset|sync_clock|"
    "sync_clock_when_idle|reclaim_mem|max_sessions|min_dtmf_duration [num]|"
    "max_dtmf_duration [num]|default_dtmf_duration [num]|min_idle_cpu|loglevel [level]|"
    "debug_level [level]]"
)
SHOW_SYNTAX = (
    "codec|endpoint|application|api|dialplan|file|timer|calls [count]|"
    "channels [count|like <match string>]|calls|detailed_calls|bridged_calls|"
    "detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|"
    "interfaces|interface_types|tasks|limits|status"
)
UPTIME_SYNTAX = "[us|ms|s|m|h|d|microseconds|milliseconds|seconds|minutes|hours|days]"

#: api command -> its syntax, printed as ``-USAGE: <syntax>\n``
SYNTAX: dict[str, str] = {
    "originate": ORIGINATE_SYNTAX,
    "uuid_kill": "<uuid> [cause]",
    "uuid_getvar": "<uuid> <var>",
    "uuid_setvar": "<uuid> <var> [value]",
    "uuid_setvar_multi": "<uuid> <var>=<value>;<var>=<value>...",
    "uuid_bridge": "<uuid> <other_uuid>",
    "uuid_broadcast": "<uuid> <path> [aleg|bleg|holdb|both]",
    "uuid_break": "<uuid> [all]",
    "uuid_park": "<uuid>",
    "uuid_transfer": "<uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]",
    "uuid_record": "<uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]",
    "uuid_send_dtmf": "<uuid> <dtmf_data>",
    "uuid_recv_dtmf": "<uuid> <dtmf_data>",
    "uuid_hold": "[off|toggle] <uuid> [<display>]",
    "uuid_dump": "<uuid> [format]",
    "uuid_displace": "<uuid> [start|stop] <path> [<limit>] [mux]",
    "uuid_media": "[off] <uuid>",
    "uuid_pause": "<uuid> <on|off>",
    "fsctl": CTL_SYNTAX,
    "show": SHOW_SYNTAX,
    "uptime": UPTIME_SYNTAX,
    "global_setvar": "<var>=<value> [=<value2>]",
    "sched_hangup": "[+]<time> <uuid> [<cause>]",
    "sched_transfer": "[+]<time> <uuid> <extension> [<dialplan>] [<context>]",
    "reload": "[-f] <mod_name>",  # reload_function prints UNLOAD_SYNTAX
}


def usage(cmd: str) -> str:
    """``-USAGE: <syntax>\\n`` for ``cmd`` (a key of :data:`SYNTAX`)."""
    return f"-USAGE: {SYNTAX[cmd]}\n"


# --- status / version / uptime ---------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def uptime_line(uptime_us: int) -> str:
    """``UP 0 years, 0 days, ... N microseconds`` (``switch_core_measure_time``, no newline).

    Years are 365 days; every unit is pluralised except exactly 1.
    """
    us = int(uptime_us)
    mms, rest = us % 1000, us // 1000
    ms, rest = rest % 1000, rest // 1000
    sec, rest = rest % 60, rest // 60
    mins, rest = rest % 60, rest // 60
    hrs, rest = rest % 24, rest // 24
    days, years = rest % 365, rest // 365
    parts = [
        _plural(years, "year"), _plural(days, "day"), _plural(hrs, "hour"),
        _plural(mins, "minute"), _plural(sec, "second"), _plural(ms, "millisecond"),
        _plural(mms, "microsecond"),
    ]
    return "UP " + ", ".join(parts)


def _to_us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))


def status(
    uptime_s: float,
    version: str = VERSION_FULL_HUMAN,
    sessions_since_start: int = 0,
    sessions_now: int = 0,
    peak: int = 0,
    peak_5min: int = 0,
    sps_now: int = 0,
    sps_max: int = 30,
    sps_peak: int = 0,
    sps_peak_5min: int = 0,
    max_sessions: int = 1000,
    idle_cpu: float = 100.0,
    stack_kb: int = 240,
    stack_max_kb: int = 8192,
    *,
    min_idle_cpu: float = 0.0,
    ready: bool = True,
) -> str:
    """Body of ``api status``.

    ``uptime_s`` is rounded to whole microseconds. ``sps_now`` is the last second's session
    rate, ``sps_max`` the configured limit (``fsctl sps``); ``min idle cpu`` prints
    ``min_idle_cpu`` (the configured floor, 0.00 by default) then ``idle_cpu``.
    """
    return (
        f"{uptime_line(_to_us(uptime_s))}\n"
        f"FreeSWITCH (Version {version}) is {'ready' if ready else 'not ready'}\n"
        f"{sessions_since_start} session(s) since startup\n"
        f"{sessions_now} session(s) - peak {peak}, last 5min {peak_5min} \n"
        f"{sps_now} session(s) per Sec out of max {sps_max}, peak {sps_peak}, "
        f"last 5min {sps_peak_5min} \n"
        f"{max_sessions} session(s) max\n"
        f"min idle cpu {min_idle_cpu:0.2f}/{idle_cpu:0.2f}\n"
        f"Current Stack Size/Max {stack_kb}K/{stack_max_kb}K\n"
    )


def version(
    arg: str = "",
    *,
    full: str = VERSION_FULL,
    revision_human: str = VERSION_REVISION_HUMAN,
    full_human: str = VERSION_FULL_HUMAN,
    short: str = VERSION_SHORT,
) -> str:
    """Body of ``api version [arg]``: ``short`` anywhere in the first word gives x.y.z."""
    if not arg.strip():
        return f"FreeSWITCH Version {full} ({revision_human})\n"
    if "short" in arg.split(" ", 1)[0].lower():
        return f"{short}\n"
    return f"FreeSWITCH Version {full} ({full_human})\n"


_UPTIME_SCALES = {
    "": 1_000_000, "us": 1, "microseconds": 1, "ms": 1000, "milliseconds": 1000,
    "s": 1_000_000, "seconds": 1_000_000, "m": 60_000_000, "minutes": 60_000_000,
    "h": 3_600_000_000, "hours": 3_600_000_000, "d": 86_400_000_000, "days": 86_400_000_000,
}


def uptime(seconds: float, unit: str = "") -> str:
    """Body of ``api uptime [unit]``: whole units (truncated) then a newline."""
    scale = _UPTIME_SCALES.get(unit.strip().lower())
    if scale is None:
        return usage("uptime")
    return f"{_to_us(seconds) // scale}\n"


def hostname(name: str) -> str:
    """Body of ``api hostname`` (no newline); ``eval ${hostname}`` gives the same."""
    return name


def create_uuid(uuid: str) -> str:
    """Body of ``api create_uuid`` (no newline)."""
    return str(uuid)


def echo(arg: str) -> str:
    """Body of ``api echo <arg>``: the argument verbatim, no newline."""
    return arg


def global_getvar(value: str | None) -> str:
    """Output of ``global_getvar <var>`` (unset: empty, which ESL turns into -ERR no reply)."""
    return value or ""


def reloadxml(err: str = "Success") -> str:
    return f"+OK [{err}]\n"


#: switch_loadable_module_unload_module's error for a module that is not loaded
NO_SUCH_MODULE = "No such module!"
#: switch_loadable_module_load_module_ex's error when the module's file does not load
LOAD_FILE_ERROR = "module load file routine returned an error"


def reload_module(unloaded: str | None = None, loaded: str | None = None) -> str:
    """Output of ``reload <module>`` (mod_commands' reload_function): unload, re-read the
    XML, load. ``unloaded``/``loaded`` are the errors of those steps (None: success), in
    the words of switch_loadable_module.c (:data:`NO_SUCH_MODULE`, :data:`LOAD_FILE_ERROR`).
    """
    out = "+OK module unloaded\n" if unloaded is None else f"-ERR unloading module [{unloaded}]\n"
    out += "+OK Reloading XML\n"
    out += "+OK module loaded\n" if loaded is None else f"-ERR loading module [{loaded}]\n"
    return out


# --- show channels / show calls ---------------------------------------------------------------

#: ``show channels`` columns, in order (the ``channels`` table of FreeSWITCH 1.11)
CHANNEL_COLUMNS: tuple[str, ...] = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
    "ip_addr", "dest", "application", "application_data", "dialplan", "context",
    "read_codec", "read_rate", "read_bit_rate", "write_codec", "write_rate",
    "write_bit_rate", "secure", "hostname", "presence_id", "presence_data", "accountcode",
    "callstate", "callee_name", "callee_num", "callee_direction", "call_uuid",
    "sent_callee_name", "sent_callee_num", "initial_cid_name", "initial_cid_num",
    "initial_ip_addr", "initial_dest", "initial_dialplan", "initial_context",
)

#: columns of the calling leg ``a`` in ``show calls`` (the ``basic_calls`` view)
_CALL_A_COLUMNS: tuple[str, ...] = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
    "ip_addr", "dest", "presence_id", "presence_data", "accountcode", "callstate",
    "callee_name", "callee_num", "callee_direction", "call_uuid", "hostname",
    "sent_callee_name", "sent_callee_num",
)
#: channel columns of the called leg ``b``, shown with a ``b_`` prefix
_CALL_B_COLUMNS: tuple[str, ...] = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
    "ip_addr", "dest", "presence_id", "presence_data", "accountcode", "callstate",
    "callee_name", "callee_num", "callee_direction", "sent_callee_name", "sent_callee_num",
)
#: ``show calls`` columns, in order
CALL_COLUMNS: tuple[str, ...] = (
    _CALL_A_COLUMNS + tuple(f"b_{c}" for c in _CALL_B_COLUMNS) + ("call_created_epoch",)
)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def show_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str = "delim",
    *,
    count: bool = False,
    delim: str = ",",
) -> str:
    """Body of ``show channels|calls [count] [as delim|csv|json|xml]``.

    ``rows`` are dicts keyed by column name (missing or None print as empty: SQL NULL),
    already in FreeSWITCH's order (see :func:`calls_rows`). ``fmt`` is ``delim``/``csv``
    (``delim`` is the separator, ``show ... as delim |``), ``json``, or ``count``
    (= ``count=True``, plain). With ``count`` only the number of rows is reported.
    """
    fmt = (fmt or "delim").lower()
    if fmt == "count":
        fmt, count = "delim", True
    n = len(rows)
    if fmt in ("delim", "csv"):
        if count:
            return f"\n{n} total.\n"
        if not rows:
            return "\n0 total.\n"
        lines = [delim.join(columns)]
        lines += [delim.join(_cell(r.get(c)) for c in columns) for r in rows]
        return "\n".join(lines) + f"\n\n{n} total.\n"
    if fmt == "json":
        # cJSON_PrintUnformatted; with no callback at all FreeSWITCH prints a literal
        if count:
            return json.dumps({"row_count": n, "rows": []}, separators=(",", ":"))
        if not rows:
            return '{"row_count": 0}\n'
        # one dumps per row, the same text as one dumps of the whole document: a 4,000-row
        # document in one C call held the GIL (so the loop, formatting off it) 170 ms
        dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        body = ",".join(dump({c: _cell(r.get(c)) for c in columns}) for r in rows)
        return f'{{"row_count":{n},"rows":[{body}]}}'
    if fmt == "xml":
        # show_as_xml_callback + switch_xml_toxml: <result row_count> of <row row_id>s, one
        # child per column in column order, indented two spaces per level
        if count or not rows:
            return f'<result row_count="{n}"/>\n'
        out = [f'<result row_count="{n}">']
        for i, r in enumerate(rows, 1):
            out.append(f'  <row row_id="{i}">')
            out += [f"    <{c}>{_xml_text(_cell(r.get(c)))}</{c}>" for c in columns]
            out.append("  </row>")
        out.append("</result>\n")
        return "\n".join(out)
    return f"-ERR Cannot find format {fmt}\n"  # show_function's reply to any other "as"


def _xml_text(value: str) -> str:
    """switch_xml_ampencode for element text."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def show_channels(rows: Sequence[Mapping[str, Any]], fmt: str = "delim", **kw: Any) -> str:
    """``show channels``: rows in creation order (``order by created_epoch``)."""
    return show_table(rows, CHANNEL_COLUMNS, fmt, **kw)


def show_calls(rows: Sequence[Mapping[str, Any]], fmt: str = "delim", **kw: Any) -> str:
    """``show calls``: rows from :func:`calls_rows`."""
    return show_table(rows, CALL_COLUMNS, fmt, **kw)


def calls_rows(
    channels: Sequence[Mapping[str, Any]],
    calls: Iterable[tuple[str, str, Any]] = (),
) -> list[dict[str, Any]]:
    """The rows of FreeSWITCH's ``basic_calls`` view, ordered as ``show calls`` prints them.

    ``channels`` are channel rows (dicts with :data:`CHANNEL_COLUMNS` keys) in creation
    order; ``calls`` are the ``calls`` table: ``(caller_uuid, callee_uuid,
    call_created_epoch)`` per bridge made inside the switch. A channel that is the callee
    of a bridge has no row of its own; its caller's row carries it in the ``b_*`` columns.
    Rows are sorted by ``call_created_epoch``, NULL (no bridge) first, stable otherwise.
    """
    by_uuid = {c.get("uuid"): c for c in channels}
    call_of = {}
    callees = set()
    for caller, callee, epoch in calls:
        call_of.setdefault(caller, (callee, epoch))
        callees.add(callee)
    out: list[dict[str, Any]] = []
    for a in channels:
        uuid = a.get("uuid")
        link = call_of.get(uuid)
        if link is None and uuid in callees:
            continue
        row = {c: a.get(c) for c in _CALL_A_COLUMNS}
        b = by_uuid.get(link[0]) if link else None
        for c in _CALL_B_COLUMNS:
            row[f"b_{c}"] = b.get(c) if b else None
        row["call_created_epoch"] = link[1] if link else None
        out.append(row)
    out.sort(key=lambda r: (r["call_created_epoch"] is not None,
                            int(r["call_created_epoch"] or 0)))
    return out


# --- sofia status -------------------------------------------------------------------------------

SOFIA_LINE = "=" * 97


def profile_state(running: bool = True, inuse: int = 0) -> str:
    """The State column of a profile row: ``RUNNING (0)``."""
    return f"{'RUNNING' if running else 'DOWN'} ({inuse})"


def sofia_status(
    profiles: Sequence[tuple[str, str, str]],
    aliases: Sequence[tuple[str, str]] = (),
) -> str:
    """Body of ``sofia status``.

    ``profiles`` are ``(name, url, state)`` rows (state e.g. ``profile_state()``), in the
    order to print (FreeSWITCH's hash order); ``aliases`` are ``(alias, profile_name)``
    rows, printed after the profiles. Gateways are not modelled.
    """
    out = [f"{'Name':>25}\t{'   Type'}\t  {'Data':>40}\t{'State'}", SOFIA_LINE]
    for name, url, state in profiles:
        out.append(f"{name:>25}\tprofile\t  {url:>40}\t{state}")
    for alias, target in aliases:
        out.append(f"{alias:>25}\t  alias\t  {target:>40}\tALIASED")
    out.append(SOFIA_LINE)
    c, ac = len(profiles), len(aliases)
    out.append(f"{c} profile{'' if c == 1 else 's'} {ac} alias{'' if ac == 1 else 'es'}")
    return "\n".join(out) + "\n"


#: ``sofia status profile`` rows after ``Name``: (label, printed prefix, optional).
#: Optional rows print only when present in the settings. ``RTP-IP`` may be a list.
PROFILE_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("Domain Name", "Domain Name      ", False),
    ("Alias Of", "Alias Of         ", True),
    ("Auto-NAT", "Auto-NAT         ", False),
    ("DBName", "DBName           ", False),
    ("Pres Hosts", "Pres Hosts       ", False),
    ("Dialplan", "Dialplan         ", False),
    ("Context", "Context          ", False),
    ("Challenge Realm", "Challenge Realm  ", False),
    ("RTP-IP", "RTP-IP           ", False),
    ("Ext-RTP-IP", "Ext-RTP-IP       ", True),
    ("SIP-IP", "SIP-IP           ", False),
    ("Ext-SIP-IP", "Ext-SIP-IP       ", True),
    ("URL", "URL              ", True),  # absent for a TLS-only profile
    ("BIND-URL", "BIND-URL         ", True),
    ("TLS-URL", "TLS-URL          ", True),
    ("TLS-BIND-URL", "TLS-BIND-URL     ", True),
    ("WS-BIND-URL", "WS-BIND-URL     ", True),  # sic: one space short in FreeSWITCH
    ("WSS-BIND-URL", "WSS-BIND-URL     ", True),
    ("HOLD-MUSIC", "HOLD-MUSIC       ", False),
    ("OUTBOUND-PROXY", "OUTBOUND-PROXY   ", False),
    ("CODECS IN", "CODECS IN        ", False),
    ("CODECS OUT", "CODECS OUT       ", False),
    ("TEL-EVENT", "TEL-EVENT        ", False),
    ("DTMF-MODE", "DTMF-MODE        ", False),
    ("CNG", "CNG              ", False),
    ("SESSION-TO", "SESSION-TO       ", False),
    ("MAX-DIALOG", "MAX-DIALOG       ", False),
    ("MAX-RECV-RPS", "MAX-RECV-RPS     ", False),
    ("NOMEDIA", "NOMEDIA          ", False),
    ("LATE-NEG", "LATE-NEG         ", False),
    ("PROXY-MEDIA", "PROXY-MEDIA      ", False),
    ("AGGRESSIVENAT", "AGGRESSIVENAT    ", False),
    ("USER-AGENT-FILTER", "USER-AGENT-FILTER", True),
    ("MAX-REG-PEREXT", "MAX-REG-PEREXT   ", True),
    ("CALLS-IN", "CALLS-IN         ", False),
    ("FAILED-CALLS-IN", "FAILED-CALLS-IN  ", False),
    ("CALLS-OUT", "CALLS-OUT        ", False),
    ("FAILED-CALLS-OUT", "FAILED-CALLS-OUT ", False),
    ("REGISTRATIONS", "REGISTRATIONS    ", False),
)
_PROFILE_LABELS = {label for label, _, _ in PROFILE_FIELDS}


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _cell(value)


def sofia_status_profile(name: str, settings: Mapping[str, Any]) -> str:
    """Body of ``sofia status profile <name>``.

    ``name`` is the name asked for (printed as is); ``settings`` maps the labels of
    :data:`PROFILE_FIELDS` to values (bool → ``true``/``false``, ``RTP-IP`` may be a list
    for several lines); they print in FreeSWITCH's order whatever the dict's order. Every
    non-optional label is required; unknown labels are an error.
    """
    unknown = set(settings) - _PROFILE_LABELS
    if unknown:
        raise ValueError(f"unknown sofia profile settings: {sorted(unknown)}")
    out = [SOFIA_LINE, f"Name             \t{name}"]
    for label, prefix, optional in PROFILE_FIELDS:
        if label not in settings or settings[label] is None:
            if optional:
                continue
            raise ValueError(f"sofia profile setting {label!r} is required")
        value = settings[label]
        values = value if isinstance(value, (list, tuple)) else [value]
        out.extend(f"{prefix}\t{_setting(v)}" for v in values)
    return "\n".join(out) + "\n"


def default_profile_settings(
    name: str,
    ip: str = "127.0.0.1",
    port: int = 5080,
    *,
    context: str = "switchio",
    dialplan: str = "XML",
    codecs: str = "PCMU,PCMA",
    ext_ip: str | None = None,
    transports: str = "udp,tcp",
    calls_in: int = 0,
    failed_calls_in: int = 0,
    calls_out: int = 0,
    failed_calls_out: int = 0,
    registrations: int = 0,
) -> dict[str, Any]:
    """A complete settings dict for :func:`sofia_status_profile`, as the captured lab's
    profiles (``external`` on 127.0.0.1:5080, ``internal`` on :5060) report themselves."""
    ext = ip if ext_ip is None else ext_ip
    url = f"sip:mod_sofia@{ext}:{port}"
    return {
        "Domain Name": "N/A",
        "Auto-NAT": False,
        "DBName": f"sofia_reg_{name}",
        "Pres Hosts": "",
        "Dialplan": dialplan,
        "Context": context,
        "Challenge Realm": "auto_to",
        "RTP-IP": ip,
        "Ext-RTP-IP": ext,
        "SIP-IP": ip,
        "Ext-SIP-IP": ext,
        "URL": url,
        "BIND-URL": f"{url};maddr={ip};transport={transports}",
        "HOLD-MUSIC": "N/A",
        "OUTBOUND-PROXY": "N/A",
        "CODECS IN": codecs,
        "CODECS OUT": codecs,
        "TEL-EVENT": 101,
        "DTMF-MODE": "rfc2833",
        "CNG": 13,
        "SESSION-TO": 0,
        "MAX-DIALOG": 0,
        "MAX-RECV-RPS": 1000,
        "NOMEDIA": False,
        "LATE-NEG": False,
        "PROXY-MEDIA": False,
        "AGGRESSIVENAT": False,
        "CALLS-IN": calls_in,
        "FAILED-CALLS-IN": failed_calls_in,
        "CALLS-OUT": calls_out,
        "FAILED-CALLS-OUT": failed_calls_out,
        "REGISTRATIONS": registrations,
    }


# --- uuid_dump / plain event text ---------------------------------------------------------------

_URL_UNSAFE = frozenset(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_HEX_UPPER = frozenset(b"0123456789ABCDEF")


def fs_url_encode(value: str) -> str:
    """``switch_url_encode``: bytes < 0x20, > 0x7E and ``SWITCH_URL_UNSAFE`` become ``%XX``
    (upper case), except a ``%`` already followed by two upper-case hex digits."""
    raw = value.encode("utf-8", "surrogateescape")
    out = []
    n = len(raw)
    for i, b in enumerate(raw):
        if (b == 0x25 and i + 2 < n and raw[i + 1] in _HEX_UPPER
                and raw[i + 2] in _HEX_UPPER):
            out.append("%")
        elif b < 0x20 or b > 0x7E or b in _URL_UNSAFE:
            out.append(f"%{b:02X}")
        else:
            out.append(chr(b))
    return "".join(out)


def serialize_event(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: str | None = None,
    *,
    encode: bool = True,
) -> str:
    """``switch_event_serialize``: ``Name: value`` lines (values URL-encoded unless
    ``encode`` is false), then an empty line, or ``Content-Length: N`` + empty line + body.

    This is the text of ``uuid_dump`` and of every ``text/event-plain`` event body.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lines = [f"{k}: {fs_url_encode(v) if encode else v}\n" for k, v in pairs]
    if body:
        size = len(body.encode("utf-8", "surrogateescape"))
        lines.append(f"Content-Length: {size}\n\n{body}")
    else:
        lines.append("\n")
    return "".join(lines)


def uuid_dump(headers: Mapping[str, str] | Iterable[tuple[str, str]], fmt: str = "txt") -> str:
    """Body of ``uuid_dump <uuid> [txt|plain]``: the channel's CHANNEL_DATA event headers
    (decoded values, in event order), encoded unless ``fmt`` is ``plain``."""
    fmt = (fmt or "txt").lower()
    if fmt in ("json", "xml"):
        raise NotImplementedError(f"uuid_dump {fmt} is not modelled")
    return serialize_event(headers, encode=fmt != "plain")


# --- uuid_* and call control ----------------------------------------------------------------------


def uuid_exists(exists: bool) -> str:
    """``true`` / ``false``, no newline."""
    return "true" if exists else "false"


def uuid_getvar(value: str | None) -> str:
    """The variable's value (no newline); unset: ``_undef_``."""
    return UNDEF if value is None else value


def uuid_bridge_ok(other_uuid: str) -> str:
    return f"+OK {other_uuid}\n"


def uuid_send_dtmf_ok(uuid: str, digits: str) -> str:
    return f"+OK {uuid} sent DTMF {digits}.\n"


def uuid_recv_dtmf_ok(uuid: str, digits: str) -> str:
    return f"+OK {uuid} received DTMF {digits}.\n"


def uuid_hold_usage() -> str:
    """``uuid_hold`` with no argument: its usage *and* the failure line."""
    return usage("uuid_hold") + OPERATION_FAILED


def uuid_setvar_multi_no_channel() -> str:
    """``uuid_setvar_multi`` on a missing channel: the error *and* the usage."""
    return NO_SUCH_CHANNEL + usage("uuid_setvar_multi")


def originate_ok(uuid: str) -> str:
    """``originate`` success (also the bgapi BACKGROUND_JOB body): the A-leg's uuid."""
    return f"+OK {uuid}\n"


def originate_error(cause: str) -> str:
    """``originate`` failure: ``-ERR <HANGUP_CAUSE>`` (e.g. USER_BUSY, NO_ANSWER,
    CHAN_NOT_IMPLEMENTED for an unknown endpoint type)."""
    return f"-ERR {cause}\n"


def hupall(cause: str = "MANAGER_REQUEST", matching: Sequence[tuple[str, str]] = ()) -> str:
    """Body of ``hupall [cause [var value]...]``."""
    if not matching:
        return f"+OK hangup all channels with cause {cause}\n"
    var, val = matching[0]
    more = "..." if len(matching) > 1 else ""
    return f"+OK hangup all channels matching [{var}]=[{val}]{more} with cause: {cause}\n"


# --- fsctl --------------------------------------------------------------------------------------

#: ``switch_log_level2str``
LOG_LEVELS = {
    -1: "DISABLE", 0: "CONSOLE", 1: "ALERT", 2: "CRIT", 3: "ERR", 4: "WARNING", 5: "NOTICE",
    6: "INFO", 7: "DEBUG",
}

FSCTL_OK = OK  #: hupall, pause, resume, shutdown, reclaim_mem, ...


def fsctl_sps(sps: int) -> str:
    return f"+OK sessions per second: {sps}\n"


def fsctl_last_sps(sps: int) -> str:
    return f"+OK last sessions per second: {sps}\n"


def fsctl_max_sessions(n: int) -> str:
    return f"+OK max sessions: {n}\n"


def fsctl_verbose_events(on: bool) -> str:
    return f"+OK verbose_events is {'on' if on else 'off'} \n"


def fsctl_loglevel(level: int) -> str:
    return f"+OK log level: {LOG_LEVELS.get(level, 'DISABLE')} [{level}]\n"


def fsctl_invalid() -> str:
    """``fsctl <unknown>``."""
    return f"-ERR Invalid command\nUSAGE: fsctl {CTL_SYNTAX}\n"


FSCTL_SPS_PEAK_RESET = "+OK max sessions per second counter reset\n"
FSCTL_SYNC_CLOCK = "+OK clock synchronized\n"
FSCTL_LOGLEVEL_ERROR = "-ERR syntax error, log level not set!\n"
