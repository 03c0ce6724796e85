"""The embedded switch's api texts against what a real FreeSWITCH 1.11 said.

Every api/response body in the golden captures is rebuilt by :mod:`switchio_lab.sim.fs_text`
from plain data and compared byte for byte: constant bodies directly, live-state bodies
(status, show channels/calls with rows, uuid_dump) from the numbers and rows parsed back out
of the capture. Texts no capture shows (taken from FreeSWITCH's source) are pinned below so
that a change is deliberate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

import pytest

from switchio_lab.esl import API_RESPONSE, COMMAND_REPLY, Frame, Parser
from switchio_lab.sim import fs_text as T

Entries = list[tuple[float, str, bytes]]
ZERO = "00000000-0000-0000-0000-000000000000"


# --- reading the captures ----------------------------------------------------------------------


class Conversation:
    """A capture as (command sent, reply frame) pairs plus every frame received.

    Each ``send`` is paired with the next command/reply or api/response frame (a bare
    ``api`` gets a command/reply, so pairing with api/responses only would drift).
    """

    def __init__(self, entries: Entries) -> None:
        parser = Parser()
        self.frames: list[Frame] = []
        self.pairs: list[tuple[str, Frame, float]] = []
        pending: list[tuple[str, float]] = []
        for t, direction, data in entries:
            if direction == "send":
                pending.append((data.decode("latin-1"), t))
                continue
            for frame in parser.feed(data):
                self.frames.append(frame)
                if frame.content_type in (API_RESPONSE, COMMAND_REPLY):
                    sent, t_sent = pending.pop(0)
                    self.pairs.append((sent, frame, t_sent))

    def api(self) -> list[tuple[str, str, float]]:
        """``(command line after "api", body, time sent)`` for every api/response."""
        out = []
        for sent, frame, t in self.pairs:
            if frame.content_type == API_RESPONSE:
                line = sent.split("\n", 1)[0]
                assert line.startswith("api "), line
                out.append((line[4:], frame.body.decode("utf-8"), t))
        return out

    def api_body(self, command: str) -> str:
        bodies = [body for line, body, _ in self.api() if line == command]
        assert bodies, f"no api {command!r} in the capture"
        return bodies[0]

    def background_jobs(self) -> list[tuple[dict[str, str], str]]:
        out = []
        for frame in self.frames:
            if frame.is_event and frame.event.name == "BACKGROUND_JOB":
                headers, body = _plain_event(frame.body)
                out.append((dict(headers), body))
        return out


@pytest.fixture(scope="module")
def convo(transcript: Callable[[str], Entries]) -> Callable[[str], Conversation]:
    cache: dict[str, Conversation] = {}

    def get(name: str) -> Conversation:
        if name not in cache:
            cache[name] = Conversation(transcript(name))
        return cache[name]

    return get


def _decode(value: bytes) -> str:
    return unquote_to_bytes(value).decode("utf-8", "surrogateescape") if b"%" in value \
        else value.decode("utf-8", "surrogateescape")


def _plain_event(raw: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """A text/event-plain body (or a uuid_dump) as decoded header pairs and body."""
    head, sep, rest = raw.partition(b"\n\n")
    assert sep, raw[:200]
    pairs = []
    for line in head.split(b"\n"):
        name, _, value = line.partition(b": ")
        pairs.append((name.decode("latin-1"), _decode(value)))
    body = None
    if pairs and pairs[-1][0] == "Content-Length":
        size = int(pairs.pop()[1])
        assert len(rest) == size
        body = rest.decode("utf-8", "surrogateescape")
    else:
        assert rest == b"", rest[:100]
    return pairs, body


_STATUS = re.compile(
    r"UP (\d+) years?, (\d+) days?, (\d+) hours?, (\d+) minutes?, (\d+) seconds?, "
    r"(\d+) milliseconds?, (\d+) microseconds?\n"
    r"FreeSWITCH \(Version (.+)\) is (ready|not ready)\n"
    r"(\d+) session\(s\) since startup\n"
    r"(\d+) session\(s\) - peak (\d+), last 5min (\d+) \n"
    r"(\d+) session\(s\) per Sec out of max (\d+), peak (\d+), last 5min (\d+) \n"
    r"(\d+) session\(s\) max\n"
    r"min idle cpu ([\d.]+)/([\d.]+)\n"
    r"Current Stack Size/Max (\d+)K/(\d+)K\n"
)


def _status_inputs(body: str) -> tuple[float, dict]:
    m = _STATUS.fullmatch(body)
    assert m, body
    g = m.groups()
    yr, day, hr, mins, sec, ms, us = map(int, g[:7])
    total_us = ((((yr * 365 + day) * 24 + hr) * 60 + mins) * 60 + sec) * 1_000_000 \
        + ms * 1000 + us
    ints = [int(x) for x in g[9:18]]
    args = dict(
        version=g[7], sessions_since_start=ints[0], sessions_now=ints[1], peak=ints[2],
        peak_5min=ints[3], sps_now=ints[4], sps_max=ints[5], sps_peak=ints[6],
        sps_peak_5min=ints[7], max_sessions=ints[8], min_idle_cpu=float(g[18]),
        idle_cpu=float(g[19]), stack_kb=int(g[20]), stack_max_kb=int(g[21]),
        ready=g[8] == "ready",
    )
    return total_us / 1_000_000, args


def _parse_show(body: str, columns: tuple[str, ...], spill: str | None = None) -> list[dict]:
    """Rows back out of a ``show`` body. FreeSWITCH does not escape the delimiter, so a
    value with commas (``tone_stream://%(200,0,800)``) is re-joined into column ``spill``."""
    head, _, tail = body.rpartition("\n\n")
    lines = head.split("\n")
    assert tuple(lines[0].split(",")) == columns
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        extra = len(cells) - len(columns)
        if extra:
            assert spill is not None and extra > 0, line
            i = columns.index(spill)
            cells[i:i + extra + 1] = [",".join(cells[i:i + extra + 1])]
        rows.append(dict(zip(columns, cells, strict=True)))
    assert tail == f"{len(rows)} total.\n"
    return rows


# --- commands: every api body of the commands capture -----------------------------------------


def _commands_expected(c: Conversation) -> dict[str, str]:
    t_status = next(t for line, _, t in c.api() if line == "status")
    t_uptime = next(t for line, _, t in c.api() if line == "uptime")
    uptime_s, _ = _status_inputs(c.api_body("status"))
    profiles = [
        ("external", "sip:mod_sofia@127.0.0.1:5080", T.profile_state()),
        ("internal", "sip:mod_sofia@127.0.0.1:5060", T.profile_state()),
    ]
    new_uuid = c.api_body("create_uuid")
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", new_uuid)
    return {
        # status: see test_status_bodies
        "version": T.version(),
        # the uptime the status reported, plus the time between the two requests
        "uptime": T.uptime(uptime_s + (t_uptime - t_status)),
        "hostname": T.hostname("vm"),
        "show channels": T.show_channels([]),
        "show channels as json": T.show_channels([], "json"),
        "show calls": T.show_calls([]),
        "show calls as json": T.show_calls([], "json"),
        "show calls count": T.show_calls([], count=True),
        "sofia status": T.sofia_status(profiles),
        "sofia status profile external": T.sofia_status_profile(
            "external", T.default_profile_settings("external", "127.0.0.1", 5080, calls_out=6)
        ),
        "global_getvar switch_serial": T.esl_api_body(T.global_getvar(None)),
        "create_uuid": T.create_uuid(new_uuid),
        f"uuid_exists {ZERO}": T.uuid_exists(False),
        f"uuid_kill {ZERO}": T.NO_SUCH_CHANNEL,
        f"uuid_getvar {ZERO} foo": T.NO_SUCH_CHANNEL,
        f"uuid_answer {ZERO}": T.ERROR,
        f"uuid_bridge {ZERO} {ZERO[:-1]}1": T.INVALID_UUID,
        f"uuid_dump {ZERO}": T.NO_SUCH_CHANNEL,
        "hupall": T.hupall(),
        "fsctl sps 10000": T.fsctl_sps(10000),
        "fsctl max_sessions 10000": T.fsctl_max_sessions(10000),
        "fsctl verbose_events true": T.fsctl_verbose_events(True),
        "fsctl loglevel": T.fsctl_loglevel(-1),
        "eval ${hostname}": T.esl_api_body(T.hostname("vm")),
        "echo hello world": T.echo("hello world"),
        "reloadxml": T.reloadxml(),
        "bogus_command_xyz arg": T.command_not_found("bogus_command_xyz"),
        "originate error/USER_BUSY &park()": T.originate_error("USER_BUSY"),
        "originate foo/bar &park()": T.originate_error("CHAN_NOT_IMPLEMENTED"),
        "originate": T.usage("originate"),
    }


def test_every_commands_api_body_is_reproduced(convo):
    c = convo("commands")
    expected = _commands_expected(c)
    seen = set()
    for line, body, _ in c.api():
        seen.add(line)
        if line == "status":
            continue  # live numbers: test_status_bodies
        assert line in expected, f"api {line!r} not covered"
        assert expected[line].encode() == body.encode(), line
    assert seen == set(expected) | {"status"}


def test_bare_api_is_a_command_reply(convo):
    replies = [f for sent, f, _ in convo("commands").pairs if sent == "api\n\n"]
    assert len(replies) == 1
    assert replies[0].content_type == COMMAND_REPLY
    assert replies[0].headers["Reply-Text"] == T.ESL_COMMAND_NOT_FOUND


def test_status_bodies(convo):
    bodies = [convo(n).api_body("status") for n in ("commands", "before_auth", "outbound_socket")]
    bodies += [b for h, b in convo("commands").background_jobs() if h["Job-Command"] == "status"]
    assert len(bodies) == 5
    for body in bodies:
        uptime_s, args = _status_inputs(body)
        assert T.status(uptime_s, **args) == body
    # the positional form of the brief, as the commands capture
    assert T.status(252.966867, T.VERSION_FULL_HUMAN, 16, 0, 4, 4, 0, 10000, 9000, 9000,
                    10000, 87.0) == convo("commands").api_body("status")


def test_bgapi_replies_and_results(convo):
    c = convo("commands")
    chosen = "7b2e0d1c-0000-4000-8000-000000000001"
    replies = [f for sent, f, _ in c.pairs if sent.startswith("bgapi ")]
    assert len(replies) == 4
    for f in replies:
        assert f.headers["Reply-Text"] == T.bgapi_reply(f.headers["Job-UUID"])
    assert any(f.headers["Job-UUID"] == chosen for f in replies)
    results = {h["Job-Command"]: b for h, b in c.background_jobs() if h["Job-Command"] != "status"}
    assert results == {
        "originate": T.originate_error("NO_ROUTE_DESTINATION"),
        "bogus_command_xyz": T.command_not_found("bogus_command_xyz"),
    }


_FAILURES = {  # dial string fragment -> hangup cause FreeSWITCH reported
    "busy@": "USER_BUSY", "noanswer@": "NO_ANSWER", "error/USER_NOT_REGISTERED":
    "USER_NOT_REGISTERED", "nobody@127.0.0.1:5999": "NORMAL_TEMPORARY_FAILURE",
    "cancel@": "ORIGINATOR_CANCEL",
}


@pytest.mark.parametrize(
    "name", ["call_basic", "call_media", "call_bridge", "call_xheaders", "call_failures"]
)
def test_originate_results(convo, name):
    jobs = [(h, b) for h, b in convo(name).background_jobs() if h["Job-Command"] == "originate"]
    assert jobs
    for headers, body in jobs:
        arg = headers["Job-Command-Arg"]
        cause = next((v for k, v in _FAILURES.items() if k in arg), None)
        if cause:
            assert body == T.originate_error(cause)
        else:
            uuid = re.search(r"origination_uuid=([0-9a-f-]{36})", arg).group(1)
            assert body == T.originate_ok(uuid)


# --- live calls -------------------------------------------------------------------------------


def test_uuid_command_replies_on_live_channels(convo):
    checked = 0
    for line, body, _ in convo("call_media").api():
        cmd, _, args = line.partition(" ")
        argv = (args.split(" ") + [""])[:2]
        expected = {
            "uuid_record": T.OK_SUCCESS,  # start and stop
            "uuid_send_dtmf": T.uuid_send_dtmf_ok(*argv),
            "uuid_setvar": T.OK,
            "uuid_getvar": T.uuid_getvar("hello"),  # set by the uuid_setvar before it
            "uuid_broadcast": T.OK_MESSAGE_SENT,
        }.get(cmd)
        if expected is not None:
            assert expected == body, line
            checked += 1
    assert checked == 6
    for name in ("call_basic", "call_bridge", "call_xheaders", "call_json", "call_failures"):
        for line, body, _ in convo(name).api():
            cmd = line.split(" ", 1)[0]
            assert cmd in ("uuid_answer", "uuid_kill", "show"), line
            if cmd != "show":
                assert body == T.OK, line


def test_uuid_dump_of_a_live_channel(convo):
    body = next(b for line, b, _ in convo("call_media").api() if line.startswith("uuid_dump "))
    pairs, event_body = _plain_event(body.encode("utf-8"))
    assert event_body is None and pairs[0] == ("Event-Name", "CHANNEL_DATA")
    assert dict(pairs)["variable_lab_var"] == "hello"
    assert dict(pairs)["Channel-Name"] == "sofia/external/0000000000@127.0.0.1"  # decoded
    assert T.uuid_dump(pairs) == body
    assert T.uuid_dump(dict(pairs)) == body
    assert body.endswith("variable_lab_var: hello\n\n")
    plain = T.uuid_dump(pairs, "plain")
    assert "Channel-Name: sofia/external/0000000000@127.0.0.1\n" in plain


@pytest.mark.parametrize("name", ["commands", "call_media", "call_basic", "call_bridge"])
def test_plain_event_serialization_matches_every_event(convo, name):
    """uuid_dump's serializer is the text/event-plain one: check it on every plain event."""
    events = [f for f in convo(name).frames if f.content_type == "text/event-plain"]
    assert len(events) > 3
    with_body = 0
    for frame in events:
        pairs, body = _plain_event(frame.body)
        with_body += body is not None
        text = T.serialize_event(pairs, body)
        assert text.encode("utf-8", "surrogateescape") == frame.body, pairs[0]
    assert with_body  # BACKGROUND_JOB results, CUSTOM bodies


def test_show_channels_and_calls_with_rows(convo):
    c = convo("call_media")
    channels_body = c.api_body("show channels")
    rows = _parse_show(channels_body, T.CHANNEL_COLUMNS, spill="application_data")
    assert len(rows) == 2 and rows[0]["application_data"] == "tone_stream://%(200,0,800)"
    assert T.show_channels(rows) == channels_body
    # two legs of a call FreeSWITCH made to itself over SIP: no bridge, two rows
    assert T.show_calls(T.calls_rows(rows)) == c.api_body("show calls")


def test_show_calls_joins_a_bridge(convo):
    body = convo("call_bridge").api_body("show calls")
    rows = _parse_show(body, T.CALL_COLUMNS)
    assert len(rows) == 3
    # rebuild the channels and the calls table the view was computed from
    channels, calls = [], []
    for row in rows:
        channels.append({c: row[c] for c in T.CHANNEL_COLUMNS if c in row})
    for row in rows:
        if row["b_uuid"]:
            b = {c: row[f"b_{c}"] for c in T.CHANNEL_COLUMNS if f"b_{c}" in row}
            channels.append(b)  # the far leg is created last
            calls.append((row["uuid"], row["b_uuid"], row["call_created_epoch"]))
    assert len(channels) == 4 and len(calls) == 1
    assert T.show_calls(T.calls_rows(channels, calls)) == body
    # the bridge's callee has no row of its own; a call made over SIP keeps both legs
    assert [r["uuid"] for r in T.calls_rows(channels, calls)] == [r["uuid"] for r in rows]
    assert T.show_calls(T.calls_rows(channels, calls), count=True) == "\n3 total.\n"


# --- texts taken from FreeSWITCH's source (no capture shows them) ------------------------------


def test_show_json_with_rows_is_unformatted_cjson():
    rows = [{"uuid": "u1", "name": 'a "q"\n', "dest": None}]
    out = T.show_table(rows, ("uuid", "name", "dest"), "json")
    assert out == '{"row_count":1,"rows":[{"uuid":"u1","name":"a \\"q\\"\\n","dest":""}]}'
    assert json.loads(out)["rows"][0]["name"] == 'a "q"\n'
    assert T.show_calls([], "json", count=True) == '{"row_count":0,"rows":[]}'
    assert T.show_channels([{}, {}], "count") == "\n2 total.\n"
    assert T.show_table(rows, ("uuid", "name"), delim="|").startswith("uuid|name\nu1|a")
    assert T.show_channels([], "xml") == '<result row_count="0"/>\n'
    assert T.show_table(rows, ("uuid",), "xml").splitlines()[:3] == [
        '<result row_count="1">', '  <row row_id="1">', "    <uuid>u1</uuid>"]
    assert T.show_channels([], "yaml") == "-ERR Cannot find format yaml\n"


def test_status_uptime_line():
    us = (((400 * 24 + 1) * 60 + 1) * 60 + 1) * 1_000_000 + 1001
    assert T.uptime_line(us) == (
        "UP 1 year, 35 days, 1 hour, 1 minute, 1 second, 1 millisecond, 1 microsecond"
    )
    assert T.status(0.5).startswith("UP 0 years, 0 days, 0 hours, 0 minutes, 0 seconds, "
                                    "500 milliseconds, 0 microseconds\n")
    assert "is not ready\n" in T.status(1, ready=False)


def test_uptime_and_version_variants():
    assert T.uptime(3599.9) == "3599\n"
    assert T.uptime(3599.9, "m") == "59\n"
    assert T.uptime(1.5, "ms") == "1500\n"
    assert T.uptime(1, "fortnights") == f"-USAGE: {T.UPTIME_SYNTAX}\n"
    assert T.version("short") == "1.11.3\n"
    assert T.version("full") == (
        "FreeSWITCH Version 1.11.3-dev+git~20260821T141014Z~cc93a683ca~64bit "
        "(1.11.3-dev git cc93a68 2026-08-21 14:10:14Z 64bit)\n"
    )


def test_sofia_variants():
    one = T.sofia_status([("a", "sip:mod_sofia@h:1", T.profile_state(inuse=3))],
                         aliases=[("b", "a")])
    assert one.endswith("ALIASED\n" + T.SOFIA_LINE + "\n1 profile 1 alias\n")
    assert "\ta\tRUNNING (3)" not in one and "\tRUNNING (3)\n" in one
    s = T.default_profile_settings("internal", port=5060)
    s.update({"Alias Of": "internal", "WS-BIND-URL": "sip:mod_sofia@h:5066;transport=ws",
              "RTP-IP": ["10.0.0.1", "::1"]})
    text = T.sofia_status_profile("alias", dict(reversed(list(s.items()))))
    lines = text.split("\n")
    assert lines[1:4] == ["Name             \talias", "Domain Name      \tN/A",
                          "Alias Of         \tinternal"]
    assert "RTP-IP           \t10.0.0.1\nRTP-IP           \t::1\n" in text
    assert "\nWS-BIND-URL     \tsip:" in text  # FreeSWITCH's one-short label
    with pytest.raises(ValueError):
        T.sofia_status_profile("x", {**s, "Bogus": 1})
    with pytest.raises(ValueError):
        T.sofia_status_profile("x", {k: v for k, v in s.items() if k != "CNG"})


def test_usage_and_reply_texts_from_source():
    assert T.usage("uuid_kill") == "-USAGE: <uuid> [cause]\n"
    assert T.usage("uuid_getvar") == "-USAGE: <uuid> <var>\n"
    assert T.usage("uuid_setvar") == "-USAGE: <uuid> <var> [value]\n"
    assert T.usage("uuid_bridge") == "-USAGE: <uuid> <other_uuid>\n"
    assert T.usage("uuid_broadcast") == "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
    assert T.usage("uuid_break") == "-USAGE: <uuid> [all]\n"
    assert T.usage("uuid_park") == "-USAGE: <uuid>\n"
    assert T.usage("uuid_record") == (
        "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
    )
    assert T.usage("uuid_send_dtmf") == "-USAGE: <uuid> <dtmf_data>\n"
    assert T.uuid_hold_usage() == (
        "-USAGE: [off|toggle] <uuid> [<display>]\n-ERR Operation failed\n"
    )
    assert T.uuid_setvar_multi_no_channel() == (
        "-ERR No such channel!\n-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
    )
    assert T.usage("fsctl").startswith("-USAGE: [recover|send_sighup|hupall|")
    assert T.fsctl_invalid().startswith("-ERR Invalid command\nUSAGE: fsctl [recover|")
    assert T.usage("show").startswith("-USAGE: codec|endpoint|application|api|")
    assert T.uuid_exists(True) == "true" and T.uuid_getvar(None) == "_undef_"
    assert T.uuid_bridge_ok("b") == "+OK b\n"
    assert T.hupall("NORMAL_CLEARING", [("a", "1")]) == (
        "+OK hangup all channels matching [a]=[1] with cause: NORMAL_CLEARING\n"
    )
    assert T.hupall("X", [("a", "1"), ("b", "2")]).endswith("[a]=[1]... with cause: X\n")
    assert T.fsctl_verbose_events(False) == "+OK verbose_events is off \n"
    assert T.fsctl_loglevel(7) == "+OK log level: DEBUG [7]\n"
    assert T.esl_api_body("") == "-ERR no reply\n" and T.esl_api_body("x") == "x"
    # mod_commands' reload_function: unload, reload the XML, load; the errors are
    # switch_loadable_module.c's
    assert T.usage("reload") == "-USAGE: [-f] <mod_name>\n"
    assert T.reload_module() == "+OK module unloaded\n+OK Reloading XML\n+OK module loaded\n"
    assert T.reload_module(T.NO_SUCH_MODULE, T.LOAD_FILE_ERROR) == (
        "-ERR unloading module [No such module!]\n+OK Reloading XML\n"
        "-ERR loading module [module load file routine returned an error]\n")


def test_fs_url_encode():
    assert T.fs_url_encode("sip:a@b c,d/e~f(g)") == "sip%3Aa%40b%20c,d/e~f(g)"
    assert T.fs_url_encode("100%41 5%zz 6%4f") == "100%41%205%25zz%206%254f"
    assert T.fs_url_encode("é\t|+") == "%C3%A9%09%7C%2B"
    assert T.fs_url_encode("50%") == "50%25"
    assert T.serialize_event({"A": "1"}, "xy") == "A: 1\nContent-Length: 2\n\nxy"
    assert T.serialize_event([("A", "é")], "é") == "A: %C3%A9\nContent-Length: 2\n\né"
