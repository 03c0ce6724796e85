"""The impairment panel is bound both ways to the embedded switch's link model."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")

from switchio_lab.lab.impairments import ImpairmentPanel  # noqa: E402
from switchio_lab.sim import Node, NodeConfig  # noqa: E402


def test_panel_edits_refuses_and_follows_code():
    node = Node(NodeConfig(esl_port=0))
    panel = ImpairmentPanel(node)
    panel.inputs["loss"].value = 0.03
    assert node.media.impairment(node).loss == 0.03
    panel.inputs["jb_ms"].value = "40"
    assert node.media.impairment(node).jb_ms == 40.0
    panel.inputs["loss"].value = 1.5  # refused, said, reverted
    assert node.media.impairment(node).loss == 0.03
    assert panel.inputs["loss"].value == 0.03
    assert "loss is a fraction" in panel.message.value
    panel.inputs["jb_ms"].value = "deep"
    assert "jb_ms must be a number" in panel.message.value
    assert panel.inputs["jb_ms"].value == "40"
    node.media.impair(node, burst_loss=0.02, mean_burst=3)  # changed in code: shown
    assert panel.inputs["burst_loss"].value == 0.02 and panel.inputs["mean_burst"].value == 3
    panel.close()
    assert node.media.link_watchers == []
