"""Fuzzing the client with mutated real captures (issue 15): a loopback server sends an
authenticated InboundClient a mutated stretch of what FreeSWITCH sent. The client must
answer a canary ``api`` call afterwards (at once on a stream that still frames, after its
typed errors and a reconnect on one that broke or wedged), raise only its documented errors
on the way, never :class:`NotConnected` while it says it is connected, never hang, and count
and log every undecodable event. ``bench/bench_fuzz.py`` runs the same for minutes."""

from __future__ import annotations

import asyncio

import pytest
from fuzz_inputs import Sample, after_auth, client_example, server_stream
from hypothesis import HealthCheck, given, settings

from switchio_lab.testing import scaled


@pytest.fixture(scope="module")
def streams(fixture_bytes):
    return server_stream(lambda name: after_auth(fixture_bytes(name)), limit=12_000, max_ops=6)


def test_mutated_captures(streams):
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(sample=streams)
    def run(sample: Sample) -> None:
        asyncio.run(asyncio.wait_for(client_example(sample), scaled(20)))
    run()


@pytest.mark.parametrize("tail", [
    b"Content-Type: api/response\nContent-Length: 99999999\n\n",  # a lie: the stream wedges
    b"Content-Type: api/response\nContent-Length: 12 34\n\n",  # a bad length: it breaks
    b"Content-Length: 40\nContent-Type: text/event-json\n\n{\"Event-Name\": [[[[[[[[[[[[[",
])
def test_known_breaks(fixture_bytes, tail):
    """The three ways a stream goes bad, each once: wedged, broken, a bad event."""
    head = after_auth(fixture_bytes("call_json.esl"))[:5000]
    head = head[:head.rfind(b"Content-Length:")]  # cut at a frame boundary
    outcome = asyncio.run(asyncio.wait_for(client_example(Sample("k", head + tail, [700])),
                                           scaled(20)))
    if b"event-json" in tail:
        assert outcome.bad_events == 1 and outcome.reconnects == 0
    else:
        # broken in a later read: typed errors, then a reconnect; in the read with the
        # auth reply: connect() raised ConnectError and the second connect() worked
        assert (outcome.reconnects == 1 and sum(outcome.errors.values()) >= 1
                or outcome.errors["ConnectError"] == 1), outcome
