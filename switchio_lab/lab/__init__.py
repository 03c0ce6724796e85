"""The notebook layer: a :class:`Lab` (an embedded or real switch and its clients, on the
kernel's loop), its :class:`EventLog`, and the IPython magics (``%load_ext switchio_lab``).

>>> from switchio_lab.lab import Lab                     # doctest: +SKIP
>>> lab = await Lab.start()          # two embedded nodes, or $SWITCHIO_LAB_HOSTS
>>> await lab.api("status")

See ``docs/lab.rst``.
"""

from .core import (
    HOSTS_ENV,
    PASSWORD_ENV,
    Lab,
    LagEpisode,
    LoadReport,
    LoopLagWarning,
    current,
)
from .eventlog import EventLog, EventRecord, text_ladder

__all__ = ["HOSTS_ENV", "PASSWORD_ENV", "EventLog", "EventRecord", "LagEpisode", "Lab",
           "LoadReport", "LoopLagWarning", "current", "text_ladder"]
