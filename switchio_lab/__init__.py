"""switchio-lab: an interactive FreeSWITCH telephony lab for Jupyter.

The seed's app API at top level: ``import switchio_lab as switchio`` then
``@switchio.callback("CHANNEL_ANSWER")``, ``switchio.Client(...)``.
"""

__version__ = "0.1.0"

from . import apps  # noqa: F401  (the built-in apps register themselves by name)
from .core import (
    AppError,
    AppManager,
    Call,
    Client,
    EventListener,
    Job,
    NodePool,
    PoolError,
    Service,
    Session,
    SessionEnded,
    SwitchioError,
    get_client,
)
from .core.marks import callback, coroutine, event_callback, handler

__all__ = [
    "AppError", "AppManager", "Call", "Client", "EventListener", "Job", "NodePool",
    "PoolError", "Service", "Session", "SessionEnded", "SwitchioError", "__version__",
    "callback", "coroutine", "event_callback", "get_client", "handler",
    "load_ipython_extension",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext switchio_lab``: the ``%%app``, ``%esl`` and ``%lab`` magics
    (see :mod:`switchio_lab.lab.magics`)."""
    from .lab.magics import load_ipython_extension as load

    load(ipython)
