"""Background jobs: originate's Job, its session, results, and failures counted by cause."""

from __future__ import annotations

import asyncio

import pytest

import switchio_lab as switchio
from switchio_lab import AppError, Job
from switchio_lab.testing import scaled, until


class Answer:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess) -> None:
        if sess.is_inbound():
            if sess.get("variable_sip_h_X-refuse"):
                sess.hangup(sess["variable_sip_h_X-refuse"])
            else:
                sess.answer()


class JobWatcher:
    """The default app: BACKGROUND_JOB callbacks get the Job."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    @switchio.callback("BACKGROUND_JOB")
    def on_job(self, job) -> None:
        self.jobs.append(job)


async def test_originate_job_gets_the_caller_session(client, sim_node) -> None:
    await client.load_app(Answer, "answer")
    job = await client.originate(f"bob@{sim_node.sip_address()}", app_id="answer")
    assert isinstance(job, Job) and job.sess_uuid
    result = await job.wait(scaled(3))
    assert job.successful is True and job.result == result
    assert result.strip() == f"+OK {job.sess_uuid}"
    assert job.session is not None and job.session.uuid == job.sess_uuid
    assert job.session.is_outbound() and job.session.job is job
    assert job.session.appname == "answer"
    assert client.listener.count_jobs() == 0 and client.listener.total_jobs == 1
    assert client.listener.count_failed() == 0
    await client.hupall()


async def test_failures_are_counted_by_cause(client, sim_node) -> None:
    await client.load_app(Answer, "answer")
    watcher = JobWatcher()
    await client.load_app(watcher, "default")
    listener = client.listener
    # fail at once (no channel at all), many in flight: the result may beat the reply
    jobs = await asyncio.gather(*(client.originate("error/USER_BUSY") for _ in range(30)))
    results = await asyncio.gather(*(job.wait(scaled(3)) for job in jobs))
    assert {r.strip() for r in results} == {"-ERR USER_BUSY"}
    assert all(job.successful is False and job.cause == "USER_BUSY" for job in jobs)
    assert all(job.session is None for job in jobs)
    await until(lambda: listener.count_jobs() == 0)
    assert listener.failed_jobs == {"USER_BUSY": 30}
    # fail after the caller leg existed: the far leg refuses
    job = await client.originate(f"bob@{sim_node.sip_address()}", app_id="answer",
                                 **{"sip_h_X-refuse": "CALL_REJECTED"})
    assert (await job.wait(scaled(3))).strip() == "-ERR CALL_REJECTED"
    assert job.successful is False and job.cause == "CALL_REJECTED"
    assert job.session is not None and job.session.hungup
    await until(lambda: listener.count_calls() == 0)
    assert listener.failed_jobs == {"USER_BUSY": 30, "CALL_REJECTED": 1}
    assert listener.count_failed() == 31 and listener.count_jobs() == 0
    assert listener.total_jobs == 31
    # each job reached the app's BACKGROUND_JOB callback once, as its Job
    assert sorted(id(j) for j in watcher.jobs) == sorted(id(j) for j in [*jobs, job])


async def test_count_jobs_counts_the_jobs_waiting(client, sim_node) -> None:
    listener = client.listener
    jobs = [await client.originate(f"parked{i}@{sim_node.sip_address()}") for i in range(3)]
    await until(lambda: listener.count_sessions() == 6)
    assert listener.count_jobs() == 3 and all(job.waiting for job in jobs)
    assert all(job.successful is None and job.result is None for job in jobs)
    callee = jobs[0].session.call.get_peer(jobs[0].session)
    await callee.answer()
    assert (await jobs[0].wait(scaled(2))).startswith("+OK")
    assert listener.count_jobs() == 2
    await client.hupall()
    results = await asyncio.gather(*(job.wait(scaled(2)) for job in jobs[1:]))
    assert all(r.startswith("-ERR") for r in results)
    assert listener.count_jobs() == 0 and listener.count_failed() == 2


async def test_bgapi_and_plain_originate(client, sim_node) -> None:
    job = await client.bgapi("status")
    assert "UP" in await job.wait(scaled(2)) and job.successful
    bad = await client.bgapi("originate")
    assert (await bad.wait(scaled(2))).startswith("-USAGE") and bad.successful is False
    await until(lambda: client.listener.count_jobs() == 0)
    assert client.listener.failed_jobs == {"USAGE": 1}
    text = await client.originate("error/NO_ANSWER", bgapi=False)
    assert text.strip() == "-ERR NO_ANSWER"
    with pytest.raises(AppError, match="no app loaded under id 'nope'"):
        await client.originate("bob@127.0.0.1:5080", app_id="nope")
