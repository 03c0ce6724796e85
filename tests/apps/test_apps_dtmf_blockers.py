"""DtmfChecker, the blockers and Bert end to end on two embedded nodes.

Callers are on node 1, callees on node 2; each node has its own client (and its own
instance of the app), as in a real two-switch test bed.
"""

from __future__ import annotations

import pytest

import switchio_lab as switchio
from switchio_lab import apps
from switchio_lab.api import AppError
from switchio_lab.apps import AppManager
from switchio_lab.apps.bert import Bert
from switchio_lab.apps.blockers import CalleeBlockOnInvite, CalleeHangupAfterAnswer, CalleeRingback
from switchio_lab.apps.dtmf import DtmfChecker
from switchio_lab.pool import NodePool
from switchio_lab.sim import Cluster
from switchio_lab.testing import until


@pytest.fixture
def clients(sim_clients):
    """One connected Client per node of ``sim_cluster`` (the plugin's ``sim_clients``),
    its sessions keeping their event history (``sess.events``)."""
    for client in sim_clients:
        client.listener.keep_events = 64
    return sim_clients


async def call(c1, cluster: Cluster, app_id: str, user: str = "callee", **kwargs):
    """Place a call from node 1 to node 2; returns its job."""
    return await c1.originate(f"{user}@{cluster[1].sip_address()}", app_id=app_id, **kwargs)


def test_builtins_are_registered() -> None:
    for cls in (DtmfChecker, CalleeBlockOnInvite, CalleeRingback, CalleeHangupAfterAnswer, Bert):
        assert apps.get(cls.__name__) is cls


# -- DtmfChecker ----------------------------------------------------------------------------
async def test_dtmf_sequences_arrive_intact_on_every_call(sim_cluster) -> None:
    pool = await NodePool(switchio.Client(n.host, n.esl_port, reconnect=False)
                          for n in sim_cluster).connect()
    try:
        manager = AppManager(pool)
        await manager.load_app(DtmfChecker, "dtmf", sequence="12#*9", duration=100)
        checker = manager.instances("dtmf")["127.0.0.2"]  # the callees' side
        jobs = [await call(pool[0], sim_cluster, "dtmf", f"d{i}") for i in range(3)]
        for job in jobs:
            assert (await job.wait(5)).startswith("+OK")
        await until(lambda: len(checker.checked) == 3)
        assert checker.results == dict.fromkeys(checker.checked, "12#*9")
        assert not checker.incomplete and not checker.incorrect and not checker.failed
        callees = pool[1].listener.sessions
        assert all(callees[u].vars["dtmf_checked"] for u in checker.checked)
        assert not manager.instances("dtmf")["127.0.0.1"].results  # the callers got none
        assert checker.total_time == pytest.approx(0.5)
        await pool[0].hupall()
        await until(lambda: not pool[1].listener.sessions)
        assert not checker.missed
    finally:
        await pool.disconnect()


async def test_dtmf_wrong_and_missing_digits_are_reported(clients, sim_cluster) -> None:
    c1, c2 = clients
    await c1.load_app(DtmfChecker, on_value="dtmf", sequence="1243")  # sent
    checker = DtmfChecker(sequence="1234")  # expected
    await c2.load_app(checker, on_value="dtmf")
    job = await call(c1, sim_cluster, "dtmf")
    assert (await job.wait(5)).startswith("+OK")
    await until(lambda: checker.incorrect)
    (callee, (expected, got)), = checker.incorrect.items()
    assert (expected, got) == ("3", "4") and checker.failed == [callee]
    await until(lambda: checker.results[callee] == "1243")  # the rest recorded, not checked
    assert not checker.checked and not checker.incomplete

    checker.sequence = "12439"  # one more digit than is sent: the call ends without it
    job = await call(c1, sim_cluster, "dtmf")
    assert (await job.wait(5)).startswith("+OK")
    await until(lambda: len(checker.results) == 2 and checker.results[
        next(u for u in checker.results if u != callee)] == "1243")
    await c1.hupall()
    await until(lambda: checker.missed)
    assert list(checker.missed.values()) == ["9"] and len(checker.failed) == 2
    with pytest.raises(AppError, match="not a DTMF sequence"):
        await c2.load_app(DtmfChecker, on_value="bad", sequence="12x")


# -- blockers -------------------------------------------------------------------------------
async def test_callee_block_on_invite_rejects_with_a_cause_or_a_sip_response(clients,
                                                                            sim_cluster):
    c1, c2 = clients
    await c1.load_app(CalleeBlockOnInvite, on_value="block")  # (the callers need the id)
    blocker = CalleeBlockOnInvite()
    await c2.load_app(blocker, on_value="block")
    job = await call(c1, sim_cluster, "block")
    assert await job.wait(5) == "-ERR CALL_REJECTED\n"
    blocker.response = 486
    job = await call(c1, sim_cluster, "block")
    assert await job.wait(5) == "-ERR USER_BUSY\n"
    await c2.reload_app(CalleeBlockOnInvite, "block", response="503")  # (a hot-swap)
    job = await call(c1, sim_cluster, "block")
    assert await job.wait(5) == "-ERR NORMAL_TEMPORARY_FAILURE\n"
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)
    assert blocker.rejected == 2 and c2.apps["block"].rejected == 1
    assert c1.listener.total_answered_sessions == c2.listener.total_answered_sessions == 0
    assert c2.listener.hangup_causes["CALL_REJECTED"] == 1
    assert c2.listener.hangup_causes["USER_BUSY"] == 1


async def test_callee_ringback_rings_with_early_media_and_never_answers(clients, sim_cluster):
    c1, c2 = clients
    await c1.load_app(CalleeRingback, on_value="ring", caller_hup_after=0.6)
    await c2.load_app(CalleeRingback, on_value="ring")
    for client in clients:
        await client.connection.subscribe("CHANNEL_PROGRESS_MEDIA", "PLAYBACK_START")
    job = await call(c1, sim_cluster, "ring")
    await until(lambda: len(c2.listener.sessions) == 1)
    callee = next(iter(c2.listener.sessions.values()))
    caller = c1.listener.sessions[job.sess_uuid]
    assert await job.wait(5) == "-ERR ORIGINATOR_CANCEL\n"  # the caller gave up at 0.6 s
    names = [e.name for e in callee.events]
    assert "CHANNEL_PROGRESS_MEDIA" in names and "CHANNEL_ANSWER" not in names
    assert callee["Playback-File-Path"] == "tone_stream://%(2000,4000,440,480)"
    assert "CHANNEL_PROGRESS_MEDIA" in [e.name for e in caller.events]
    assert not caller.answered and not callee.answered
    assert caller.duration == pytest.approx(0.6, abs=0.15)


async def test_callee_ringback_callee_hangs_up_after_ringing(clients, sim_cluster) -> None:
    c1, c2 = clients
    await c1.load_app(CalleeRingback, on_value="ring")
    await c2.load_app(CalleeRingback, on_value="ring", ring_response="ring_ready",
                      ringback=None, callee_hup_after=0.3)
    await c1.connection.subscribe("CHANNEL_PROGRESS")
    job = await call(c1, sim_cluster, "ring")
    result = await job.wait(5)
    assert result.startswith("-ERR ") and result != "-ERR ORIGINATOR_CANCEL\n"
    caller = c1.listener.sessions.get(job.sess_uuid) or job.session
    assert "CHANNEL_PROGRESS" in [e.name for e in caller.events]
    assert 0.2 < caller.duration < 0.6
    with pytest.raises(AppError, match="ring_response"):
        await c2.load_app(CalleeRingback, on_value="bad", ring_response="answer")


async def test_callee_hangs_up_a_while_after_answering(clients, sim_cluster) -> None:
    c1, c2 = clients
    await c1.load_app(CalleeHangupAfterAnswer, on_value="hup")
    await c2.load_app(CalleeHangupAfterAnswer, on_value="hup", delay=0.3, cause="USER_BUSY")
    job = await call(c1, sim_cluster, "hup")
    assert (await job.wait(5)).startswith("+OK")
    caller = c1.listener.sessions[job.sess_uuid]
    await until(lambda: caller.hungup)
    assert caller.answered and caller.cause == "USER_BUSY"
    assert 0.25 < caller.hangup_time - caller.answer_time < 0.8
    assert c2.listener.hangup_causes == {"USER_BUSY": 1}


# -- Bert -------------------------------------------------------------------------------------
async def test_bert_needs_mod_bert_and_says_so(clients, sim_cluster) -> None:
    c1, _ = clients
    with pytest.raises(AppError) as info:
        await c1.load_app(Bert, on_value="bert")
    text = str(info.value)
    assert text.startswith("Bert needs FreeSWITCH's mod_bert")
    assert f"127.0.0.1:{sim_cluster[0].esl_port} does not have it" in text
    assert "module_exists mod_bert" in text and "load mod_bert" in text
    assert not c1.apps  # nothing was loaded
    pool = await NodePool(switchio.Client(n.host, n.esl_port, reconnect=False)
                          for n in sim_cluster).connect()
    try:
        with pytest.raises(AppError, match=r"failed on node 127\.0\.0\.\d.*needs FreeSWITCH's "
                                           r"mod_bert"):
            await AppManager(pool).load_app("Bert")
        assert not any(c.apps for c in pool)
    finally:
        await pool.disconnect()


class _Answers:
    """Stands in for a client whose switch answers ``module_exists`` with ``answer``."""

    host, port = "fs.example", 8021

    def __init__(self, answer: str) -> None:
        self.answer = answer

    async def api(self, cmd: str) -> str:
        assert cmd == "module_exists mod_bert"
        return self.answer


async def test_bert_prepost_reads_module_exists() -> None:
    with pytest.raises(AppError, match="says the module is not loaded"):
        await Bert().prepost(_Answers("false"))
    bert = Bert()
    await bert.prepost(_Answers("true"), ring_response="ring_ready", pdd=0.1, bert_max_err="5")
    assert bert.opts["bert_max_err"] == "5" and bert.ring_response == "ring_ready"
    assert bert.hangup_on_error
    bert.hangup_on_error = False
    assert bert.opts["bert_hangup_on_error"] == "no"


class LabBert(Bert):
    """Bert without the module check, to see its mod_bert events handled (the embedded
    switch has no mod_bert: the test fires the events itself)."""

    async def prepost(self, client) -> None:
        pass


async def test_bert_handles_mod_bert_custom_events(clients, sim_cluster) -> None:
    c1, c2 = clients
    await c1.load_app(LabBert, on_value="bert")
    bert = LabBert()
    await c2.load_app(bert, on_value="bert")
    assert c2.connection.is_subscribed("mod_bert::lost_sync")  # CUSTOM subclasses
    job = await call(c1, sim_cluster, "bert")
    assert (await job.wait(5)).startswith("+OK")
    await until(lambda: len(c2.listener.sessions) == 1)
    callee = next(iter(c2.listener.sessions.values()))
    assert callee["variable_bert_timer_name"] == "soft"  # the opts were set on the leg

    async def fire(subclass: str) -> None:
        seen = callee.recv(subclass)
        await c2.connection.sendevent("CUSTOM", {"Event-Subclass": subclass,
                                                 "Unique-ID": callee.uuid})
        assert (await seen).subclass == subclass

    await fire("mod_bert::in_sync")
    assert callee.vars["bert_sync"] is True
    await fire("mod_bert::lost_sync")
    await fire("mod_bert::lost_sync")
    assert callee.vars["bert_sync"] is False and callee.vars["bert_lost_sync_cnt"] == 2
    assert list(bert.lost_sync) == [callee]
    await fire("mod_bert::timeout")
    assert list(bert.timed_out) == [callee] and callee.vars["bert_timeout"]
    await c1.hupall()
    await until(lambda: not c1.listener.sessions and not c2.listener.sessions)
