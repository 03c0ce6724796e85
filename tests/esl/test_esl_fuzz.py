"""Fuzzing the codec with mutated real captures (issue 15): byte flips, truncation, inserted,
deleted and duplicated bytes, garbage header values, ``Content-Length`` lies and random
chunking. Only the codec's documented errors come out (:class:`ProtocolError` and its
subclasses), the parser terminates in steps bounded by its input, and every accessor, ``repr``
and serializer of what it decoded works. ``bench/bench_fuzz.py`` runs the same strategies
for minutes."""

from __future__ import annotations

import pytest
from fuzz_inputs import Sample, client_stream, codec_example, server_stream
from hypothesis import HealthCheck, given, settings

from switchio_lab.esl import CommandParser, Parser

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sent(transcript):
    cache: dict[str, bytes] = {}

    def load(name: str) -> bytes:
        if name not in cache:
            cache[name] = b"".join(d for _, way, d in transcript(name) if way == "send")
        return cache[name]
    return load


@pytest.fixture(scope="module")
def strategies(fixture_bytes, sent):
    return server_stream(fixture_bytes), client_stream(sent)


def test_server_frames(strategies):
    @FUZZ
    @given(sample=strategies[0])
    def run(sample: Sample) -> None:
        codec_example(sample, Parser)
    run()


def test_client_commands(strategies):
    @FUZZ
    @given(sample=strategies[1])
    def run(sample: Sample) -> None:
        codec_example(sample, CommandParser)
    run()


def test_a_parser_that_loops_is_caught():
    """The step bound itself: a parser that never returns fails the check, fast."""
    class Looping(Parser):
        def feed(self, data: bytes) -> list:
            while True:
                data.find(b"\n\n")

    from fuzz_inputs import StepLimit
    with pytest.raises(StepLimit):
        codec_example(Sample("x", b"Content-Type: command/reply\n\n", [4]), Looping)
