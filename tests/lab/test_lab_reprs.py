"""What a notebook shows for the values a cell ends with: short, readable, no dumps."""

from __future__ import annotations

import switchio_lab as switchio
from switchio_lab.lab import Lab


class Quiet:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess) -> None:
        pass


async def test_a_job_and_a_load_report_read_in_one_line() -> None:
    lab = await Lab.start(nodes=2)
    try:
        job = await lab.originate()
        text = repr(job)
        assert text.startswith(f"<Job {job.uuid[:8]} originate sofia/external/")
        assert "{" not in text and text.count(job.sess_uuid[:8]) == 1  # once, not three times
        assert len(text) < 160
        report = await lab.load_app(Quiet)
        assert repr(report) == "<LoadReport loaded Quiet as 'Quiet' on 127.0.0.1, 127.0.0.2>"
        html = report._repr_html_()
        assert "<table>" in html and html.count("<tr>") == 3 and "Quiet v1" in html
        again = await lab.load_app(Quiet)
        assert "replaced 'Quiet'" in repr(again) and "Quiet v1" in again._repr_html_()
    finally:
        await lab.stop()
