"""Test and bench tools for switchio-lab and for projects that use it.

- :mod:`switchio_lab.testing.plugin`: the pytest plugin (``sim_node``, ``sim_cluster``,
  ``esl_client``, ``connect``, ``sim_clients``, ``sim_client``, :func:`until`,
  :func:`scaled`), installed as a ``pytest11`` entry point.
"""

from .plugin import TIME_SCALE_ENV, UntilTimeout, pause, scaled, time_scale, until

__all__ = ["TIME_SCALE_ENV", "UntilTimeout", "pause", "scaled", "time_scale", "until"]
