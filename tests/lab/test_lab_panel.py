"""The Originator panel (ipywidgets) and the live dashboard (Bokeh), without a browser.

The panel drives a real Originator between two embedded nodes: widget values go to
``configure`` (invalid ones are refused and revert), settings changed in code show in
the widgets, the buttons start/stop/hang up, the counters follow (throttled). The
dashboard batches: a burst of events becomes one PATCH-DOC per pump tick.
"""

from __future__ import annotations

import html
import json
import math
import time
from types import SimpleNamespace

import pytest

import switchio_lab as switchio
from switchio_lab.apps.call_gen import INITIAL, ORIGINATING, STOPPED, Originator
from switchio_lab.apps.measure import CDR
from switchio_lab.esl import Event
from switchio_lab.lab import Lab
from switchio_lab.lab.dashboard import PDD_EDGES, Dashboard
from switchio_lab.lab.eventlog import EventRecord
from switchio_lab.lab.panel import OriginatorPanel
from switchio_lab.sim import media as _media
from switchio_lab.testing import pause

del _media  # imported up front: the first hangup would import it mid-test


class Answer:
    """Answers the callee's leg."""

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()


@pytest.fixture
async def lab():
    lab = await Lab.start(nodes=2, lag_warning=None)
    await lab.load_app(Answer, "answer")
    try:
        yield lab
    finally:
        await lab.stop()


def originator(lab: Lab, **kw) -> Originator:
    settings = dict(rate=50, limit=10, duration=0.3, max_offered=10, apps={"answer": 1})
    settings.update(kw)
    return Originator([lab.clients[0]], dest_url=lab.address(1), **settings)


# -- the panel ---------------------------------------------------------------------------------
async def test_panel_widgets_configure_the_originator(lab: Lab) -> None:
    orig = originator(lab)
    panel = OriginatorPanel(orig)
    try:
        assert (panel.rate.value, panel.limit.value) == (50.0, 10)
        assert (panel.duration.value, panel.max_offered.value) == ("0.3", "10")
        panel.rate.value = 80
        panel.limit.value = 20
        panel.duration.value = "2.5"
        panel.max_offered.value = "inf"
        assert (orig.rate, orig.limit, orig.duration, orig.max_offered) == (80, 20, 2.5,
                                                                             math.inf)
        panel.duration.value = "auto"
        assert orig.auto_duration and orig.duration == pytest.approx(20 / 80 + 1.0)
        assert panel.duration.value == "auto" and panel.message.value == ""
        assert panel.refused == 0
    finally:
        panel.close()
        await orig.shutdown()


@pytest.mark.parametrize("name, bad, why", [
    ("rate", -5.0, "rate must be > 0"),
    ("rate", 0.0, "rate must be > 0"),
    ("limit", 0, "limit must be >= 1"),
    ("duration", "soon", "duration must be a number"),
    ("duration", "-1", "duration must be >= 0"),
    ("max_offered", "2.5", "max_offered must be an integer"),
])
async def test_panel_refuses_invalid_values_and_reverts(lab: Lab, name, bad, why) -> None:
    orig = originator(lab)
    panel = OriginatorPanel(orig)
    try:
        before = orig.settings()
        widget = panel.inputs[name]
        shown = widget.value
        widget.value = bad
        assert orig.settings() == before  # nothing applied
        assert widget.value == shown  # the input reverted
        message = html.unescape(panel.message.value)
        assert why in message and message.startswith("refused")
        assert panel.refused == 1
        panel.rate.value = 60.0  # a good value clears the message
        assert orig.rate == 60 and panel.message.value == ""
    finally:
        panel.close()
        await orig.shutdown()


async def test_panel_follows_changes_made_in_code(lab: Lab) -> None:
    orig = originator(lab)
    panel = OriginatorPanel(orig)
    try:
        orig.rate = 12.5
        orig.configure(limit=3, max_offered=7, duration=math.inf)
        assert (panel.rate.value, panel.limit.value) == (12.5, 3)
        assert (panel.max_offered.value, panel.duration.value) == ("7", "inf")
        assert panel.refused == 0  # the sync is not taken for an edit
    finally:
        panel.close()
        await orig.shutdown()


async def test_panel_buttons_drive_the_originator_and_counters_move(lab: Lab) -> None:
    orig = originator(lab, max_offered=math.inf, duration=math.inf, rate=100, limit=5)
    panel = OriginatorPanel(orig, interval=0.2)
    try:
        assert INITIAL in panel.badge.value
        assert panel.counter_values["offered"] == 0
        panel.start_button.click()
        assert orig.state == ORIGINATING and ORIGINATING in panel.badge.value
        await lab.wait(lambda: orig.up == 5, timeout=5)
        updates = panel.updates
        await pause(0.5)  # the throttle caught up
        shown = panel.counter_values
        assert shown["offered"] == 5 and shown["up"] == 5 and shown["answered"] == 5
        assert 'switchio-offered">5<' in panel.counters.value
        # hundreds of counter changes, but at most one redraw per interval
        assert panel.updates - updates <= 4
        panel.stop_button.click()
        assert orig.state == STOPPED and STOPPED in panel.badge.value
        panel.hupall_button.click()
        await lab.wait(lambda: orig.concurrent == 0, timeout=5)
        await pause(0.3)
        assert panel.counter_values["up"] == 0 and panel.counter_values["completed"] == 5
        # start with max_offered reached: refused with a message, state unchanged
        orig.max_offered = 5
        panel.start_button.click()
        assert orig.state == STOPPED and "max_offered" in panel.message.value
    finally:
        panel.close()
        await orig.shutdown()


async def test_panel_counter_updates_are_throttled(lab: Lab) -> None:
    orig = originator(lab, rate=200, limit=50, duration=0.2, max_offered=60)
    panel = OriginatorPanel(orig, interval=0.2)
    changes = []
    orig.on_change(changes.append, kinds=["stat"])
    try:
        t0 = time.monotonic()
        orig.start()
        await orig.waitwhile(timeout=10)
        await pause(0.3)
        elapsed = time.monotonic() - t0
        assert len(changes) >= 120  # offered + answered + completed, per call
        assert panel.updates <= elapsed / 0.2 + 3
        assert panel.counter_values["offered"] == 60 == panel.counter_values["completed"]
    finally:
        panel.close()
        await orig.shutdown()


# -- the dashboard -------------------------------------------------------------------------
def _record(t: float, name: str, uuid: str, **headers: str) -> EventRecord:
    ev = Event.from_headers({"Event-Name": name, "Unique-ID": uuid, **headers})
    return EventRecord(t, "n1", "event", name, uuid, ev, "")


def fake_lab():
    """A lab's event log and one client's real EventListener, fed by hand (``feed``)."""
    from switchio_lab.core.listener import EventListener
    from switchio_lab.lab.eventlog import EventLog

    listener = EventListener(None)
    lab = SimpleNamespace(events=EventLog(), clients=[SimpleNamespace(listener=listener)])

    def feed(rec: EventRecord) -> None:  # what a client's connection does with an event
        listener.dispatch(rec.event)
        lab.events.append(rec)
    lab.feed = feed
    return lab


def test_dashboard_batches_a_burst_into_one_patch_per_tick() -> None:
    lab = fake_lab()
    cdr = CDR()
    dash = Dashboard(lab, cdr=cdr, start=False)
    try:
        t = time.time()
        dash.pump(now=t)
        base_msgs, base_patches = dash.messages_sent, dash.patches_sent
        for i in range(250):  # 1,000 events: 250 legs created, ringing, answered, gone
            uuid = f"leg-{i}"
            lab.feed(_record(t, "CHANNEL_CREATE", uuid, **{"Call-Direction": "outbound"}))
            lab.feed(_record(t + 0.004, "CHANNEL_PROGRESS", uuid))
            lab.feed(_record(t + 0.01, "CHANNEL_ANSWER", uuid, **{
                "Call-Direction": "outbound"}))
            lab.feed(_record(t + 0.02, "CHANNEL_HANGUP", uuid, **{
                "Hangup-Cause": "NORMAL_CLEARING" if i % 5 else "USER_BUSY"}))
        for _ in range(10):
            cdr.emit({"uuid": "x", "rtp_audio_in_mos": 4.3,
                      "rtp_audio_in_media_packet_count": 250})
        assert dash.events_seen == 1000
        assert dash.patches_sent == base_patches  # nothing sent per event
        changes = dash.pump(now=t + 0.2)
        assert changes >= 4  # series, types, pdd, causes, mos: in one PATCH-DOC
        assert dash.patches_sent == base_patches + 1
        # one PATCH-DOC is 3 comm messages (header, metadata, content): no buffers
        assert dash.messages_sent - base_msgs == 3
        snap = dash.snapshot()
        assert snap["causes"] == {"NORMAL_CLEARING": 200, "USER_BUSY": 50}
        listener = lab.clients[0].listener  # the dashboard shows the listener's own counts
        assert snap["causes"] == dict(listener.hangup_causes)
        assert listener.answered_sessions == {"outbound": 250}
        assert sum(snap["pdd"]) == 250 and snap["pdd"][PDD_EDGES.index(2)] == 250  # 4 ms
        assert snap["types"]["CHANNEL_CREATE"] == pytest.approx(250 / 0.2)
        assert sum(snap["mos"]) == 10 and "mos" not in snap["notes"]
        assert cdr.rows and len(cdr.rows) == 10  # the CDR's own sink still gets its rows
        # the rates decay over their windows (1 s, 2 s), then the dashboard is idle: an
        # idle tick sends nothing, except one time-series point a second
        for k in range(2, 16):
            dash.pump(now=t + 0.2 * k)
        sent, patches = dash.messages_sent, dash.patches_sent
        for k in range(16, 26):  # 2 s idle, 10 ticks
            dash.pump(now=t + 0.2 * k)
        assert 1 <= dash.patches_sent - patches <= 3
        assert dash.messages_sent - sent == 3 * (dash.patches_sent - patches)
    finally:
        dash.close()
    assert cdr.sink == cdr.rows.append  # restored


async def test_dashboard_pump_runs_live_with_an_originator(lab: Lab) -> None:
    cdr = CDR()
    for client in lab.clients:
        await client.load_app(cdr, "cdr", observe=True)
    orig = originator(lab, rate=100, limit=20, duration=0.3, max_offered=60)
    dash = Dashboard(lab, originator=orig, cdr=cdr, interval=0.1)
    try:
        assert dash.running
        t0 = time.monotonic()
        orig.start()
        await orig.waitwhile(timeout=10)
        await lab.wait(lambda: len(cdr.rows) == 120, timeout=5)
        await pause(0.3)
        elapsed = time.monotonic() - t0
        snap = dash.snapshot()
        assert snap["causes"].get("NORMAL_CLEARING") == 120
        assert sum(snap["pdd"]) == 60
        assert snap["series_points"] >= 3
        series = dash.sources["series"].data
        assert max(series["offered_cps"]) > 20 and max(series["up"]) > 0
        # events were many times more than the messages: 5-10 Hz pump, one PATCH-DOC each
        assert dash.events_seen > 500 and dash.events_seen > 10 * dash.patches_sent
        assert dash.patches_sent <= dash.ticks + 1 <= elapsed / 0.1 + 3
        assert dash.messages_sent <= 3 * dash.patches_sent
    finally:
        dash.close()
        await orig.shutdown()
    assert not dash.running


def test_dashboard_panels_say_when_they_have_nothing_to_show() -> None:
    """Empty panels say "no data yet"; MOS comes only from legs that received audio (a
    leg without media has MOS 4.5 from FreeSWITCH: not a score), else "no audio yet"."""
    lab = fake_lab()
    cdr = CDR()
    dash = Dashboard(lab, cdr=cdr, start=False)
    try:
        t = time.time()
        dash.pump(now=t)
        notes = dash.snapshot()["notes"]
        assert notes == {"events": "no data yet", "pdd": "no data yet",
                         "causes": "no data yet", "mos": "no audio yet"}
        for _ in range(3):  # legs with no audio: FreeSWITCH's 4.5 is not shown
            cdr.emit({"uuid": "x", "rtp_audio_in_mos": 4.5,
                      "rtp_audio_in_media_packet_count": 0})
        lab.feed(_record(t, "CHANNEL_CREATE", "a", **{"Call-Direction": "outbound"}))
        lab.feed(_record(t + 0.01, "CHANNEL_ANSWER", "a"))
        lab.feed(_record(t + 0.02, "CHANNEL_HANGUP", "a", **{"Hangup-Cause": "NORMAL_CLEARING"}))
        dash.pump(now=t + 0.2)
        snap = dash.snapshot()
        assert sum(snap["mos"]) == 0
        assert snap["notes"] == {"mos": "no audio yet (3 legs without media)"}
        # every panel has a title with its unit, a hover tool, and legends that hide
        for fig in dash.figures.values():
            assert "(" in fig.title.text, fig.title.text
            assert any(type(t).__name__ == "HoverTool" for t in fig.tools), fig.title.text
        for key in ("active", "cps"):
            (legend,) = dash.figures[key].above
            assert legend.click_policy == "hide"
    finally:
        dash.close()


def test_dashboard_state_survives_a_page_reload() -> None:
    """A reloaded page asks the kernel for the widget's full state: it carries the
    document as it is now (the series streamed, the histograms patched), not as it was."""
    lab = fake_lab()
    dash = Dashboard(lab, start=False)
    try:
        t = time.time()
        for i in range(5):
            lab.feed(_record(t, "CHANNEL_CREATE", f"l{i}", **{"Call-Direction": "outbound"}))
            lab.feed(_record(t + 0.003, "CHANNEL_ANSWER", f"l{i}"))
        for k in range(4):
            dash.pump(now=t + 0.2 * k)
        state = dash.widget.get_state()
        bundle = state["render_bundle"]  # JSON, as sent
        text = (bundle if isinstance(bundle, str) else json.dumps(bundle)).replace(" ", "")
        counts = list(dash.sources["pdd"].data["count"])
        assert sum(counts) == 5 and json.dumps(counts).replace(" ", "") in text
        (t_ms,) = dash.sources["series"].data["t"]  # the streamed point is in it too
        assert repr(t_ms)[:10] in text
    finally:
        dash.close()
