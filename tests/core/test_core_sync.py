"""The blocking layer: from plain functions (its own loop) and inside a running loop."""

from __future__ import annotations

import asyncio

import pytest

import switchio_lab as switchio
from switchio_lab.core import sync
from switchio_lab.sim import Cluster, Node, NodeConfig, Rule
from switchio_lab.sync import OriginateError, SyncClient, run, sync_caller
from switchio_lab.testing import pause, scaled, until


class Answerer:
    """Answers inbound legs; counts the answers it saw."""

    def __init__(self) -> None:
        self.answers = 0

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()

    @switchio.callback("CHANNEL_ANSWER")
    def on_answer(self, sess):
        self.answers += 1
        sess.vars["answered_by"] = sess.host


@pytest.fixture
def own_node():
    """An embedded node started through the sync layer, on the module's own loop."""
    node = run(Node(NodeConfig(esl_port=0, hostname="sync-1")).start())
    yield node
    run(node.stop())
    sync.close()


# -- no loop running: the module's own loop -------------------------------------------------
def test_sync_client_in_a_plain_function(own_node: Node) -> None:
    loop = sync.get_loop()
    assert sync.get_loop() is loop and not loop.is_running()  # one loop, reused
    with SyncClient(own_node) as client:
        assert client.connected and client.port == own_node.esl_port
        assert client.api("status").startswith("UP ")
        assert client.cmd("global_getvar hostname") == "sync-1"
        assert client.load_app(Answerer, on_value="ans") == "ans"
        app = client.apps["ans"]
        # a call from the node to itself: both legs are this client's
        job = client.originate(f"doggy@{own_node.sip_address()}", app_id="ans")
        assert client.wait(job, timeout=scaled(5)).startswith("+OK")
        for _ in range(int(scaled(5) / 0.01)):  # the loop runs while we sleep: events handled
            if app.answers == 2 and client.listener.count_sessions() == 2:
                break
            client.sleep(0.01)
        assert app.answers == 2 and client.listener.count_sessions() == 2
        client.hupall(timeout=scaled(5))
        assert client.listener.count_sessions() == 0
        with pytest.raises(switchio.AppError, match="no app loaded under id 'nope'"):
            client.originate("doggy@127.0.0.1:5080", app_id="nope")
        client.unload_app("ans")
        assert client.apps == {}
    assert not client.connected


def test_sync_caller_blocks_until_answered(own_node: Node) -> None:
    with sync_caller(own_node, apps={"ans": Answerer}) as caller:
        assert caller.app_names == ["ans"]
        sess, job = caller(f"doggy@{own_node.sip_address()}", "ans", timeout=scaled(5),
                           waitfor=("answered_by", 2))
        assert sess.answered and job.successful and sess.uuid == job.sess_uuid
        assert sess.is_outbound() and caller.waitfor(sess, "answered_by", 1) == "127.0.0.1"
        caller.hupall()
        assert caller.client.listener.count_calls() == 0

        own_node.config.dialplan = [Rule(r"^busy$", [("respond", "486")])]
        with pytest.raises(OriginateError, match="call to busy@.* failed: -ERR USER_BUSY") \
                as info:
            caller(f"busy@{own_node.sip_address()}", "ans", timeout=scaled(5))
        assert info.value.cause == "USER_BUSY"
    assert not caller.client.connected


def test_run_timeout_and_a_client_stays_on_its_loop() -> None:
    with pytest.raises(TimeoutError):
        run(asyncio.sleep(5), timeout=0.05)
    assert run(asyncio.sleep(0, "still usable")) == "still usable"
    node = run(Node(NodeConfig(esl_port=0)).start())
    client = SyncClient(f"{node.host}:{node.esl_port}")

    async def elsewhere() -> None:
        client.api("status")  # another loop is running here: refused, not deadlocked

    with pytest.raises(RuntimeError, match="lives on the event loop it first ran on"):
        asyncio.run(elsewhere())
    assert client.api("status").startswith("UP ")  # still fine on its own loop
    client.disconnect()
    run(node.stop())
    sync.close()
    with pytest.raises(RuntimeError, match="which was closed"):
        client.api("status")
    with pytest.raises(ValueError, match="talks to one node"):
        SyncClient(Cluster())
    sync.close()


# -- a loop already running (a Jupyter kernel): re-entered with nest_asyncio2 ---------------
async def test_sync_calls_inside_a_running_loop(sim_cluster: Cluster) -> None:
    """A notebook cell: the kernel's loop is running; blocking calls re-enter it."""
    loop = asyncio.get_running_loop()
    ticks = 0

    async def kernel_work() -> None:  # another task of the kernel: it must keep running
        nonlocal ticks
        while True:
            ticks += 1
            await pause(0.01)

    background = asyncio.ensure_future(kernel_work())
    node1, node2 = sim_cluster
    callee = SyncClient(node2, reconnect=False)  # blocks, though this loop is running
    assert loop in sync._nested and sync.get_loop() is loop
    callee.load_app(Answerer, on_value="ans")
    with sync_caller(node1, apps={"ans": Answerer}, reconnect=False) as caller:
        assert caller.client.api("status").startswith("UP ")
        sess, job = caller(f"doggy@{node2.sip_address()}", "ans", timeout=scaled(5))
        assert sess.answered and sess.host == "127.0.0.1" and job.successful
        before = ticks
        sync.sleep(0.1)
        assert ticks > before  # the loop served the other task while the cell blocked
        assert callee.apps["ans"].answers == 1
        # awaiting still works alongside, on the same client and loop
        assert (await caller.client.client.api("status")).startswith("UP ")
        caller.hupall()
    callee.disconnect()
    background.cancel()
    assert sync.run(asyncio.sleep(0, 42)) == 42  # nested again: patched once, still fine

    refused = []

    def plain_callback() -> None:  # what an app's @callback is: no task around it
        try:
            run(asyncio.sleep(0))
        except RuntimeError as exc:
            refused.append(str(exc))

    loop.call_soon(plain_callback)
    await until(lambda: refused)
    assert refused and "would re-enter the event dispatch" in refused[0]
