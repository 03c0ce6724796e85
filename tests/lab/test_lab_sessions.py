"""The live session table and the lab's CDR DataFrame, on an embedded lab."""

from __future__ import annotations

import asyncio

import switchio_lab as switchio
from switchio_lab.lab import Lab
from switchio_lab.lab.sessions import SessionTable
from switchio_lab.testing import pause, until


class Answer:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()


async def test_session_table_and_cdr_follow_calls() -> None:
    lab = await Lab.start(nodes=2)
    try:
        await lab.load_app(Answer, "answer")
        await lab.load_cdr()
        assert lab.cdr.empty
        table = SessionTable(lab, interval=0.05)
        assert "0 sessions" in table.title.value
        job = await lab.originate(app_id="answer")
        assert (await job.wait(5)).startswith("+OK")
        await until(lambda: "2 sessions" in table.title.value)
        # the caller's park comes a tick after its answer: the last event until hangup
        await until(lambda: lab.sessions[job.sess_uuid]["Event-Name"] == "CHANNEL_PARK")
        assert table.table.value.count("<tr>") == 3  # header and two legs
        assert "outbound" in table.table.value and "inbound" in table.table.value
        before = table.updates
        loop = asyncio.get_running_loop()
        started = loop.time()
        await pause(0.3)  # ages move: redrawn by the timer, a handful of times
        elapsed = loop.time() - started
        # at least once, at most once per 0.05 s timer tick over the time that really passed
        assert 1 <= table.updates - before <= elapsed / 0.05 + 2
        await lab.hupall(timeout=5)
        await until(lambda: len(lab.cdr) == 2)  # one row per leg, while the lab runs
        assert set(lab.cdr["direction"]) == {"inbound", "outbound"}
        await until(lambda: "0 sessions" in table.title.value)
        table.close()
        n = table.updates
        await pause(0.2)
        assert table.updates == n  # closed: no more redraws
    finally:
        await lab.stop()
