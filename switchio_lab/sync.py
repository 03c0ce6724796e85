"""The synchronous API lives in :mod:`switchio_lab.core.sync` (this path is kept).

    from switchio_lab.sync import SyncClient, run, sync_caller
"""

from .core.sync import (
    Caller,
    OriginateError,
    SyncClient,
    close,
    get_loop,
    run,
    sleep,
    sync_caller,
)

__all__ = ["Caller", "OriginateError", "SyncClient", "close", "get_loop", "run", "sleep",
           "sync_caller"]
