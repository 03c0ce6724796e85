"""Test and bench tools for switchio-lab and for projects that use it.

- :mod:`switchio_lab.testing.plugin`: the pytest plugin (``sim_node``, ``sim_cluster``,
  ``esl_client``, ``connect``, ``sim_clients``, :func:`until`), installed as a ``pytest11``
  entry point.
"""

from .plugin import until

__all__ = ["until"]
