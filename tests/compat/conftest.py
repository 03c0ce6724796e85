"""Fixtures for switchio-style blocking tests: embedded nodes on the compat loop thread.

``switch`` is the node under control (switchio's docker FreeSWITCH); ``far`` is a second
node in SIPp's place, answering every call it gets.
"""

from __future__ import annotations

import pytest

from switchio_lab.compat import loop
from switchio_lab.sim import Cluster, Rule

ANSWER = [Rule(r".*", [("answer", ""), ("park", "")])]


@pytest.fixture
def cluster():
    cluster = loop.run(Cluster.start(2, esl_port=0))
    cluster.nodes[1].config.dialplan = list(ANSWER)
    try:
        yield cluster
    finally:
        loop.run(cluster.stop())


@pytest.fixture
def switch(cluster):
    return cluster.nodes[0]


@pytest.fixture
def far(cluster):
    return cluster.nodes[1]


@pytest.fixture
def contact(switch):
    """``(host, port)`` of the switch under control."""
    return switch.host, switch.esl_port
