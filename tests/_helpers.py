"""Old name of :mod:`helpers` and :mod:`fake_server` (kept so old imports work)."""

from fake_server import (  # noqa: F401
    AdHocServer,
    Peer,
    job_event,
    plain_event,
    scripted_server,
    standard_reply,
)
from helpers import *  # noqa: F401,F403
