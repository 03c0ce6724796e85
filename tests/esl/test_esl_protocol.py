"""The sans-I/O client protocol: reply matching, auth, linger, goodbye and subscriptions,
without a socket; and :class:`Request`, the command that remembers what it says."""

from __future__ import annotations

import copy
import pickle

import pytest

from switchio_lab.esl import COMMAND_REPLY, Event, ProtocolError, commands, replies
from switchio_lab.esl.protocol import (
    AuthRequested,
    ClientProtocol,
    FramingError,
    Goodbye,
    Lingering,
    OtherFrame,
    Rejected,
    Reply,
    State,
    Unsolicited,
    passes_filters,
)
from switchio_lab.esl.requests import Request

TRANSCRIPTS = ["commands", "call_basic", "call_json", "call_xml", "call_media", "call_bridge",
               "call_failures", "call_xheaders", "myevents_linger", "auth_rejected",
               "before_auth", "call_answer_race", "call_bridge_xheaders",
               "call_internal_profile", "call_playrec", "show_channels_lag"]


def authenticated() -> ClientProtocol:
    p = ClientProtocol()
    p.receive_data(replies.auth_request())
    p.send(commands.auth("ClueCon"), "auth")
    p.receive_data(replies.command_reply("+OK accepted"))
    assert p.state is State.OPEN
    return p


# -- the golden conversations, replayed through the protocol alone ------------------------------
@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_every_reply_of_a_capture_finds_its_command(name, transcript):
    """Each reply is matched to the command sent before it, in order, as on the wire."""
    p = ClientProtocol()
    sent: list[bytes] = []
    matched: list[tuple[bytes, str]] = []
    for _, direction, data in transcript(name):
        if direction == "send":
            p.send(data, token=len(sent))
            sent.append(data)
            continue
        for item in p.receive_data(data):
            if isinstance(item, Reply):
                assert bytes(item.request) == sent[item.token]
                matched.append((bytes(item.request), item.frame.content_type))
            assert not isinstance(item, Unsolicited), name
    # every command but a final exit (whose reply may race the close) got its reply, in order
    assert [m[0] for m in matched] == sent[:len(matched)]
    assert len(sent) - len(matched) <= 1


def test_commands_capture_states_and_background_jobs(transcript):
    p = ClientProtocol()
    assert p.state is State.AWAITING_AUTH
    kinds: list[str] = []
    for _, direction, data in transcript("commands"):
        if direction == "send":
            p.send(data)
        else:
            kinds += [type(x).__name__ for x in p.receive_data(data)]
            if kinds[-1] == "AuthRequested":
                assert p.state is State.AUTH_REQUESTED
    assert kinds[0] == "AuthRequested" and kinds[-1] == "Goodbye"
    assert kinds.count("Event") == 4  # the four BACKGROUND_JOB results
    assert p.state is State.CLOSING and p.disconnect_notice is not None


def test_auth_rejected_capture(transcript):
    p = ClientProtocol()
    for _, direction, data in transcript("auth_rejected"):
        if direction == "send":
            p.send(data)
            assert p.state is State.AUTHENTICATING
        else:
            for item in p.receive_data(data):
                if isinstance(item, Reply):
                    assert item.frame.reply_text.startswith("-ERR")
                    assert p.state is State.REJECTED
    assert p.subscriptions.names == set()


def test_myevents_linger_capture(transcript):
    p = ClientProtocol()
    items = []
    for _, direction, data in transcript("myevents_linger"):
        if direction == "send":
            p.send(data)
        else:
            items += p.receive_data(data)
    lingering = [x for x in items if isinstance(x, Lingering)]
    goodbye = [x for x in items if isinstance(x, Goodbye)]
    assert len(lingering) == 1 and len(goodbye) == 1
    assert items.index(lingering[0]) < items.index(goodbye[0])
    assert p.lingering and p.state is State.CLOSING
    uuid, fmt = p.subscriptions.myevents
    assert uuid and len(uuid) == 36 and fmt is None
    assert p.subscriptions.linger  # linger was accepted before the hangup


def test_outbound_protocol_starts_open(transcript):
    p = ClientProtocol(inbound=False)
    assert p.state is State.OPEN
    replies_seen = 0
    for _, direction, data in transcript("outbound_socket"):
        if direction == "send":
            p.send(data)
        else:
            replies_seen += sum(isinstance(x, Reply) for x in p.receive_data(data))
    assert replies_seen >= 7
    assert p.lingering or p.disconnect_notice is not None


# -- reply matching ---------------------------------------------------------------------------
def test_replies_in_one_read_resolve_in_order_and_late_ones_keep_their_slot():
    p = authenticated()
    p.send(commands.api("status"), "a")
    p.send(commands.event("ALL"), "b")
    p.send(commands.api("version"), "c")
    # the first command's caller gave up: its slot still absorbs its reply (the protocol
    # never pairs a reply with the wrong command)
    items = p.receive_data(replies.api_response("UP") + replies.command_reply("+OK event")
                           + replies.api_response("1.11"))
    assert [(x.token, x.frame.text or x.frame.reply_text) for x in items] == [
        ("a", "UP"), ("b", "+OK event"), ("c", "1.11")]
    assert p.pending == 0
    assert isinstance(p.receive_data(replies.api_response("stray"))[0], Unsolicited)


def test_a_reply_split_across_reads_and_events_between():
    p = authenticated()
    p.send(commands.api("status"), "s")
    ev = Event.from_headers({"Event-Name": "HEARTBEAT", "Event-Sequence": "1"})
    data = replies.event(ev) + replies.api_response("UP 0 years")
    out = []
    for i in range(0, len(data), 7):
        out += p.receive_data(data[i:i + 7])
    assert [type(x) for x in out] == [Event, Reply]
    assert out[0].name == "HEARTBEAT" and out[1].frame.text == "UP 0 years"


def test_connection_lost_hands_back_the_unanswered_commands_in_order():
    p = authenticated()
    for token in "xyz":
        p.send(commands.api("status"), token)
    p.receive_data(replies.api_response("UP"))
    left = p.connection_lost()
    assert [t for _, t in left] == ["y", "z"] and p.state is State.CLOSED
    p.connection_made()
    assert p.state is State.AWAITING_AUTH and p.pending == 0


def test_bad_framing_ends_the_items_with_the_codecs_error():
    p = authenticated()
    p.send(commands.api("status"), "s")
    items = p.receive_data(replies.api_response("UP")
                           + b"Content-Type: api/response\nContent-Length: nope\n\n")
    assert isinstance(items[0], Reply) and items[0].frame.text == "UP"  # kept
    assert isinstance(items[-1], FramingError) and isinstance(items[-1].error, ProtocolError)


def test_rude_rejection_and_other_frames():
    p = ClientProtocol()
    (item,) = p.receive_data(replies.rude_rejection())
    assert isinstance(item, Rejected) and p.state is State.REJECTED
    p = authenticated()
    (item,) = p.receive_data(replies.log_data("hello", 7))
    assert isinstance(item, OtherFrame) and item.frame.text.startswith("hello")
    assert isinstance(ClientProtocol().receive_data(replies.auth_request())[0], AuthRequested)


def test_custom_events_go_by_their_subclass():
    p = authenticated()
    ev = Event.from_headers({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::register"})
    (item,) = p.receive_data(replies.event(ev))
    assert item.key == "sofia::register" and item.name == "CUSTOM"


# -- subscriptions: what the server accepted ------------------------------------------------
def test_subscriptions_follow_accepted_commands_only():
    p = authenticated()
    p.send(commands.event("CHANNEL_ANSWER", "CUSTOM sofia::register", format="json"))
    p.send(commands.filter("Unique-ID", "abc"))
    p.send(commands.event("DTMF"))
    p.receive_data(replies.command_reply("+OK event listener enabled json")
                   + replies.command_reply("+OK filter added. [Unique-ID]=[abc]")
                   + replies.command_reply("-ERR no keywords supplied"))
    s = p.subscriptions
    assert s.format == "json"
    assert s.names == {"CHANNEL_ANSWER", "CUSTOM", "sofia::register"}
    assert s.is_subscribed("sofia::register") and not s.is_subscribed("DTMF")
    assert s.filters == [("Unique-ID", "abc")]
    p.send(commands.nixevent("CHANNEL_ANSWER"))
    p.send(commands.filter_delete("Unique-ID"))
    p.send(commands.linger(5))
    p.send(commands.log("debug"))
    p.receive_data(replies.command_reply("+OK events nixed") * 2
                   + replies.command_reply("+OK will linger")
                   + replies.command_reply("+OK log level debug [7]"))
    assert s.names == {"CUSTOM", "sofia::register"} and s.filters == []
    assert s.linger == 5 and s.log_level == "debug"


def test_restore_replays_what_was_accepted_with_subclasses_after_custom():
    p = authenticated()
    for cmd in (commands.event("CHANNEL_CREATE", "CUSTOM a::b"), commands.filter("X", "1 2"),
                commands.myevents("0" * 36), commands.linger(), commands.log(7)):
        p.send(cmd)
        p.receive_data(replies.command_reply("+OK"))
    assert [bytes(r) for r in p.subscriptions.restore()] == [
        b"event plain CHANNEL_CREATE CUSTOM a::b\n\n", b"filter X 1 2\n\n",
        b"myevents " + b"0" * 36 + b"\n\n", b"linger\n\n", b"log 7\n\n"]
    # a reconnect keeps them, and replaying them does not duplicate anything
    p.connection_lost()
    p.connection_made()
    for cmd in p.subscriptions.restore():
        p.send(cmd)
        p.receive_data(replies.command_reply("+OK"))
    assert p.subscriptions.filters == [("X", "1 2")]



def test_the_clients_own_subscriptions_and_filters_are_kept_apart():
    p = authenticated()
    ok = replies.command_reply("+OK")
    for cmd, own in ((commands.event("CHANNEL_ANSWER"), False),
                     (commands.filter("Unique-ID", "abc"), False),
                     (commands.event("BACKGROUND_JOB"), True),
                     (commands.filter("Event-Name", "BACKGROUND_JOB"), True)):
        p.send(cmd, own=own)
        p.receive_data(ok)
    s = p.subscriptions
    assert s.names == {"CHANNEL_ANSWER"} and s.filters == [("Unique-ID", "abc")]
    assert s.own_names == {"BACKGROUND_JOB"} and not s.is_subscribed("BACKGROUND_JOB")
    assert s.delivered("BACKGROUND_JOB")
    assert s.server_filters == [("Unique-ID", "abc"), ("Event-Name", "BACKGROUND_JOB")]
    job = Event.from_headers({"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j"})
    assert s.only_own(job)  # it came only for the client
    assert [bytes(r) for r in s.restore()] == [b"event plain CHANNEL_ANSWER\n\n",
                                              b"filter Unique-ID abc\n\n"]
    assert [bytes(r) for r in s.restore_own()] == [b"event plain BACKGROUND_JOB\n\n",
                                                  b"filter Event-Name BACKGROUND_JOB\n\n"]
    # what the user asks for becomes the user's
    p.send(commands.event("BACKGROUND_JOB"))
    p.receive_data(ok)
    assert s.own_names == set() and s.is_subscribed("BACKGROUND_JOB")
    assert s.only_own(job)  # ... but their filter still stops it
    p.send(commands.filter_delete("Unique-ID"))
    p.receive_data(ok)
    assert s.filters == [] and not s.only_own(job)  # (the connection deletes its own next)
    assert s.restore_own() == []  # never a filter of its own without the user's


@pytest.mark.parametrize("filters, headers, passes", [
    ([], {}, True),
    ([("Event-Name", "CHANNEL_ANSWER")], {"Event-Name": "channel_answer"}, True),
    ([("Event-Name", "CHANNEL_ANSWER")], {"Event-Name": "CHANNEL_HANGUP"}, False),
    ([("Unique-ID", "a"), ("Event-Name", "X")], {"Event-Name": "X"}, True),  # OR-ed
    ([("Event-Name", "X"), ("Unique-ID", "-a")], {"Event-Name": "X", "Unique-ID": "a"},
     False),  # a negative filter vetoes
    ([("Unique-ID", "-a")], {"Unique-ID": "b"}, False),  # only negatives: nothing passes
    ([("Event-Name", "/^CHANNEL_/")], {"Event-Name": "CHANNEL_PARK"}, True),
    ([("Event-Name", "/^CHANNEL_/")], {"Event-Name": "HEARTBEAT"}, False),
])
def test_passes_filters_as_freeswitch_does(filters, headers, passes):
    assert passes_filters(filters, Event.from_headers(headers)) is passes


# -- Request ----------------------------------------------------------------------------
@pytest.mark.parametrize("request_, name, uuid, job", [
    (commands.api("status"), "api status", None, None),
    (commands.api("uuid_kill", "u-1 NORMAL_CLEARING"), "api uuid_kill", "u-1", None),
    (commands.bgapi("originate", "{origination_uuid=o-1,x=y}user/1 &park()", job_uuid="j"),
     "bgapi originate", "o-1", "j"),
    (commands.execute("playback", "tone_stream://%(100,0,440)", "u-2"),
     "sendmsg execute playback", "u-2", None),
    (commands.hangup("u-3", "USER_BUSY"), "sendmsg hangup", "u-3", None),
    (commands.event("ALL", format="xml"), "event xml", None, None),
    (commands.filter_delete("all"), "filter delete", None, None),
    (commands.myevents("0" * 36), "myevents", "0" * 36, None),
    (commands.exit(), "exit", None, None),
])
def test_request_says_what_it_is_and_parses_back(request_, name, uuid, job):
    assert (request_.name, request_.uuid, request_.job_uuid) == (name, uuid, job)
    back = Request.parse(bytes(request_))
    assert (back.name, back.uuid, back.job_uuid) == (name, uuid, job)
    assert bytes(back) == bytes(request_)
    assert pickle.loads(pickle.dumps(request_)) == request_
    assert copy.copy(request_).name == name


def test_request_never_shows_a_password():
    r = commands.auth("s3cret!")
    assert bytes(r) == b"auth s3cret!\n\n"  # the wire needs it ...
    shown = [repr(r), r.label, r.text, r.line, str(r.args), bytes(r.masked()).decode()]
    assert not any("s3cret" in s for s in shown)  # ... nothing else shows it
    assert r.masked().name == "auth"
    assert commands.api("status").masked() is not None


def test_a_replys_request_is_the_structured_one():
    p = authenticated()
    sent = commands.execute("answer", uuid="u-9")
    p.send(sent, "t")
    (item,) = p.receive_data(replies.command_reply("+OK"))
    assert item.request is sent and item.frame.content_type == COMMAND_REPLY


def test_the_module_examples_run():
    import doctest

    from switchio_lab.esl import protocol

    result = doctest.testmod(protocol)
    assert result.attempted >= 5 and result.failed == 0
