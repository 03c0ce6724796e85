"""Numeric variables and arguments are read as FreeSWITCH reads them (C's ``atoi``), so no
value can stall the switch or skew the timers of other calls."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchio_lab.connection import InboundClient
from switchio_lab.sim import Node, Rule
from switchio_lab.sim.cnum import atoi, positive
from switchio_lab.testing import scaled, until


@pytest.mark.parametrize("text, value", [
    ("nan", 0), ("inf", 0), ("1e309", 1), ("1e20", 1), ("2.9", 2), (" 42abc", 42), ("-7", -7),
    ("", 0), (None, 0), ("99999999999999999999", 2**31 - 1), ("+3", 3),
])
def test_atoi(text, value):
    assert atoi(text) == value


def test_positive_falls_back_to_the_default():
    assert positive("nan", 60) == 60 and positive("0", 60) == 60 and positive("5", 60) == 5


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-5"])  # "1e309" is 1 s: atoi
async def test_a_nonsense_originate_timeout_means_the_default(
        esl_client: InboundClient, sim_node: Node, timeout: str) -> None:
    """FreeSWITCH falls back to 60 s for these; meanwhile a 1 s originate times out on time
    (before: a nan timeout broke asyncio's timer order and others fired 1-9 s late)."""
    sim_node.config.dialplan[:0] = [Rule(r"^ring$", [("park", "")])]
    addr = sim_node.sip_address("external")
    bad = await esl_client.bgapi(
        f"originate {{originate_timeout={timeout}}}sofia/external/ring@{addr} &park()")
    start = time.monotonic()
    reply = await esl_client.api(
        f"originate {{originate_timeout=1}}sofia/external/ring@{addr} &park()")
    took = time.monotonic() - start
    assert reply == "-ERR NO_ANSWER\n"
    assert 0.9 <= took < 1 + scaled(2.0)
    assert bad.waiting  # still ringing: the 60 s default
    await esl_client.api("hupall")
    assert (await bad.wait(scaled(5))).startswith("-ERR")


async def test_sleep_nan_is_zero_and_loops_do_not_hold_the_switch(
        esl_client: InboundClient, sim_node: Node) -> None:
    addr = sim_node.sip_address("external")
    job = await esl_client.bgapi(f"originate sofia/external/loops@{addr} &park()")
    await until(lambda: len(sim_node.channels) == 2)
    callee = next(ch for ch in sim_node.channels.values() if ch.direction == "inbound")
    await esl_client.api(f"uuid_answer {callee.uuid}")
    await job.wait(scaled(5))
    await esl_client.execute("sleep", "nan", callee.uuid, event_lock=True)
    # 20,000 loops of `set`: other commands keep being answered meanwhile
    await esl_client.sendmsg(callee.uuid, "execute", {
        "execute-app-name": "set", "execute-app-arg": "x=1", "loops": "20000"})
    worst = 0.0
    for _ in range(20):
        t = time.monotonic()
        await esl_client.api("hostname")
        worst = max(worst, time.monotonic() - t)
        await asyncio.sleep(0)
    assert worst < scaled(0.5), worst
    await esl_client.api("hupall")
