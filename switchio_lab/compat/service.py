"""switchio's blocking ``Service``: ``s.apps.load_app(App, app_id='default')`` then
``s.run()``, which blocks (until :meth:`Service.stop` from another thread, or Ctrl-C)."""

from __future__ import annotations

import time
from typing import Any

from ..core.service import Service as CoreService
from . import loop


class AppManager:
    """The Service's :class:`~switchio_lab.apps.AppManager`, blocking."""

    def __init__(self, manager: Any) -> None:
        self._m = manager

    def __getattr__(self, name: str) -> Any:
        return getattr(self._m, name)

    def load_app(self, ns: Any, on_value: str | None = None, header: str | None = None,
                 prepend: bool = False, app_id: str | None = None, **kwargs: Any) -> str:
        if app_id is None and on_value is None:  # switchio: the app's name
            app_id = getattr(ns, "__name__", None) or type(ns).__name__
        return loop.run(self._m.load_app(ns, on_value, header, prepend, app_id=app_id,
                                         **kwargs))

    def load_multi_app(self, apps_iter: Any, on_value: str | None = None,
                       header: str | None = None, **kwargs: Any) -> str:
        return loop.run(self._m.load_multi_app(list(apps_iter), on_value, header, **kwargs))

    def reload_app(self, ns: Any, on_value: str = "default", **kwargs: Any) -> str:
        return loop.run(self._m.reload_app(ns, on_value, **kwargs))

    def unload_app(self, app_id: str) -> None:
        loop.run(self._m.unload_app(app_id))


class Service:
    """switchio's ``Service``: clients for ``contacts`` and the apps on all of them."""

    def __init__(self, contacts: Any, **kwargs: Any) -> None:
        self._s = loop.call(CoreService, contacts, **kwargs)
        self.apps = AppManager(self._s.apps)

    def __repr__(self) -> str:
        return repr(self._s)

    @property
    def core(self) -> CoreService:
        return self._s

    @property
    def pool(self) -> Any:
        return self._s.pool

    def is_alive(self) -> bool:
        return self._s.is_alive()

    def run(self, block: bool = True) -> None:
        """Connect every node; with ``block`` (switchio's default) wait until stopped."""
        loop.run(self._s.run())
        while block and self._s.is_alive():
            time.sleep(0.05)

    def stop(self) -> None:
        loop.run(self._s.stop())


__all__ = ["AppManager", "Service"]
