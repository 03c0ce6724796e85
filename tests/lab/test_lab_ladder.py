"""The ladder of a real call on the embedded switch reads like a SIP call flow.

A two-node lab; the callee rings (``ring_ready``), is answered (``uuid_answer``), and the
caller is killed (``uuid_kill``): the ladder has the client's commands as arrows to the
legs they target, their replies back, and the SIP dialog between the legs (INVITE,
180 Ringing, 200 OK, BYE) inferred from the events, in order; the text ladder shows the
same rows, drawn from the same layout.
"""

from __future__ import annotations

import pytest

import switchio_lab as switchio
from switchio_lab.lab import Lab
from switchio_lab.lab.inspector import Ladder
from switchio_lab.testing import until


class RingThenAnswer:
    """The callee rings first, then answers."""

    @switchio.coroutine("CHANNEL_PARK")
    async def on_park(self, sess):
        if sess.is_inbound():
            ringing = sess.recv("CHANNEL_PROGRESS")  # (waiting before it can come)
            await sess.execute("ring_ready")
            await ringing
            await sess.answer()


@pytest.fixture
async def lab():
    lab = await Lab.start(nodes=2, lag_warning=None, events=["CHANNEL_PROGRESS"])
    yield lab
    await lab.stop()


def rows(ladder: Ladder) -> list[tuple[str, int, int, str]]:
    """``(kind, from lane, to lane, label)`` of every arrow, top down."""
    return [(s.kind, s.src, s.dst, s.label) for s in ladder.layout.arrows]


async def test_a_real_calls_ladder_has_commands_replies_and_the_sip_dialog(lab: Lab) -> None:
    await lab.load_app(RingThenAnswer, "ring")
    job = await lab.originate(app_id="ring", node=0)
    uuid = job.sess_uuid
    ladder = Ladder(lab.events, uuid, interval=0.05)  # live: drawn as the call goes
    assert (await job.wait(5)).startswith("+OK")
    await lab.wait(lambda: len(lab.calls.get(uuid, ())) == 2
                   and all(s.answered for s in lab.calls[uuid]))
    caller, callee = lab.calls[uuid]
    await until(lambda: "200 OK" in ladder.sources["arrows"].data["label"])
    await lab.api(f"uuid_kill {uuid}", caller.host)
    await until(lambda: ladder.sources["events"].data["name"].count("CHANNEL_DESTROY") == 2)

    assert [(lane.uuid, lane.direction) for lane in ladder.lanes] == [
        (None, ""), (caller.uuid, "outbound"), (callee.uuid, "inbound")]
    arrows = rows(ladder)
    commands = [(a, b, label) for kind, a, b, label in arrows if kind == "command"]
    assert [(a, b) for a, b, _ in commands] == [(0, 1), (0, 2), (0, 2), (0, 1)]
    originate, ring, answer, kill = (label for _, _, label in commands)
    assert originate.startswith(f"bgapi originate {{origination_uuid={uuid[:8]}…")
    assert ring == "sendmsg execute ring_ready"
    assert answer == f"api uuid_answer {callee.uuid[:8]}…"
    assert kill == f"api uuid_kill {uuid[:8]}…"
    # every command's reply comes back from the lane it went to, and the bgapi's result
    replies = [(a, b, label) for kind, a, b, label in arrows if kind == "reply"]
    assert sorted(replies) == sorted([
        (1, 0, replies[0][2]), (2, 0, "+OK"), (2, 0, "+OK"), (1, 0, "+OK"),
        (1, 0, f"BACKGROUND_JOB +OK {uuid[:8]}…")])
    assert replies[0][2].startswith("+OK Job-UUID: ")
    order = [label for _, _, _, label in arrows]
    for command in (originate, ring, answer, kill):  # each one's reply comes after it
        i = order.index(command)
        assert any(kind == "reply" and b == 0 and a == arrows[i][2]
                   for kind, a, b, _ in arrows[i + 1:])
    assert order.index(originate) < order.index(replies[0][2])
    # the SIP dialog between the legs, inferred from the events, in order, the right way
    sip = [(a, b, label) for kind, a, b, label in arrows if kind == "sip"]
    assert sip == [(1, 2, "INVITE"), (2, 1, "180 Ringing"), (2, 1, "200 OK"),
                   (1, 2, "BYE")]
    assert all(s.note.startswith("inferred from ") for s in ladder.steps if s.inferred)
    assert order.index("180 Ringing") > order.index(ring)  # it rang because it was told to
    assert order.index("200 OK") > order.index(answer)
    assert order.index("BYE") > order.index(kill)
    # the live ladder streamed (no redraw) and matches one drawn from the log afterwards
    assert ladder.rebuilds == 0 and ladder.updates >= 2
    offline = Ladder.from_records(lab.events.for_call(uuid))
    for name in ("events", "arrows", "lanes"):
        assert ladder.sources[name].data == offline.sources[name].data, name

    # the text ladder: the same rows, the same arrows
    text = lab.events.text_ladder(uuid)
    assert text == ladder.text() == offline.text()
    lines = text.splitlines()
    assert len(lines) == 1 + len(ladder.steps)
    a_leg = lines[0].index(f"{caller.host} outbound")
    b_leg = lines[0].index(f"{callee.host} inbound")
    drawn = [line for line in lines if "┄" in line]  # the SIP hops
    assert [line[a_leg + 3:].split("(inferred)")[0].strip(" ┄") for line in drawn] == [
        "INVITE", "180 Ringing", "200 OK", "BYE"]
    assert [line.index("▶|") + 1 == b_leg if "▶" in line else line.index("|◀") == a_leg
            for line in drawn] == [True] * 4
    answer_line = next(line for line in lines if "api uuid_answer" in line)
    assert answer_line.index("|──api uuid_answer") == lines[0].index("client")
    assert answer_line.index("▶|") + 1 == b_leg
    ring_line = next(line for line in lines if "ring_ready──" in line)
    assert ring_line.index("▶|") + 1 == b_leg
    back = [line for line in lines if "|◀╌" in line]
    assert len(back) == len(replies)
    ladder.close()
