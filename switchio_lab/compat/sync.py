"""switchio's ``sync_caller``: a blocking caller whose calls return ``(sess, waitfor)``.

Its apps default to ``{'TonePlay': TonePlay}`` as switchio's did; events flow on the
compat loop thread, so ``time.sleep`` and ``sess.hangup()`` work between calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ..apps.players import TonePlay
from . import loop
from .api import get_client
from .models import wrap_session
from .utils import APIError

_DEFAULT_APPS = {"TonePlay": TonePlay}


@contextlib.contextmanager
def sync_caller(host: Any, port: int | str = 8021, password: str = "ClueCon",
                apps: dict[str, Any] | None = None) -> Iterator[Callable[..., Any]]:
    """``with sync_caller(host, apps={'tone': TonePlay}) as caller:``
    ``sess, waitfor = caller('doggy@host:5080', 'tone')`` -- returns once answered."""
    with get_client(host, port, password, apps=_DEFAULT_APPS if apps is None else apps
                    ) as client:

        def waitfor(sess: Any, varname: str, timeout: float | None = None) -> Any:
            """Block until ``sess.vars[varname]`` is set (its value; None on timeout)."""
            core = getattr(sess, "core", sess)
            async def wait() -> Any:
                return await client.core.listener.waitfor(core, varname, timeout)
            try:
                return loop.run(wait())
            except TimeoutError:
                return None

        def caller(dest_url: str, app_name: str, timeout: float = 30,
                   waitfor_var: tuple[str, float] | None = None, **orig_kwargs: Any
                   ) -> tuple[Any, Callable[..., Any]]:
            waitfor_ = orig_kwargs.pop("waitfor", None) or waitfor_var
            job = client.originate(dest_url, app_id=app_name, **orig_kwargs)
            job.get(timeout)  # raises APIError on -ERR
            if not job.successful():  # pragma: no cover - get() raised already
                raise APIError("originate", str(job.result))
            core = client.core

            async def session() -> Any:
                return await _answered(core, job.core.sess_uuid)
            sess = wrap_session(loop.run(session(), timeout))
            if waitfor_:
                var, seconds = waitfor_
                waitfor(sess, var, seconds)
            return sess, waitfor

        caller.client = client  # type: ignore[attr-defined]
        caller.app_lookup_vars = []  # type: ignore[attr-defined]
        yield caller


async def _answered(core: Any, uuid: str) -> Any:
    import asyncio
    while True:  # the job's +OK means answered; the session's events follow at once
        sess = core.listener.sessions.get(uuid)
        if sess is not None and (sess.answered or sess.hungup):
            return sess
        await asyncio.sleep(0.005)


__all__ = ["sync_caller"]
