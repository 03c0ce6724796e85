"""IPython magics: ``%load_ext switchio_lab``, then ``%%app``, ``%esl`` and ``%lab``.

``%%app [--id APP_ID] [--lab NAME]``
    Run the cell, find the apps it defined (classes -- or instances -- with marked
    methods; a cell of bare marked functions is one app) and load them into the lab,
    hot-swapping the app loaded under the same id: new calls get the new code, calls in
    progress finish on the old one. The id is ``APP_ID`` (one app only) or the app's
    name. Prints what was loaded or replaced and how many calls still run the old
    version.
``%esl [--lab NAME] [--node NODE] <command>``
    ``api <command>`` on every node of the lab (or on ``NODE``); prints each reply.
``%lab [--lab NAME]``
    A status line: nodes, sessions, calls, apps, events per second.

The lab is the one last started (:func:`~switchio_lab.lab.current`), or ``--lab NAME``:
the variable ``NAME`` of the notebook. The magics block the cell until done, through
:func:`switchio_lab.sync.run` (the kernel's loop keeps running meanwhile).
"""

from __future__ import annotations

import inspect
import re
import types
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from .. import marks, sync
from ..core import AppError
from .core import Lab, LoadReport, current

_OPTION = re.compile(r"^\s*--(lab|node|id)(?:=|\s+)(\S+)")


class CellApp(types.SimpleNamespace):
    """The app made of a cell's bare marked functions."""

    def __init__(self, name: str, funcs: dict[str, Any]) -> None:
        super().__init__(**funcs)
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<CellApp {self.__name__}: {sorted(k for k in vars(self) if k[0] != '_')}>"


def split_options(line: str, allowed: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """Leading ``--name value`` options of ``line``, and the rest verbatim."""
    opts: dict[str, str] = {}
    rest = line
    while True:
        m = _OPTION.match(rest)
        if m is None:
            break
        if m.group(1) not in allowed:
            raise UsageError(f"unknown option --{m.group(1)} (allowed: "
                             f"{', '.join('--' + a for a in allowed)})")
        opts[m.group(1)] = m.group(2)
        rest = rest[m.end():]
    stray = rest.strip().split(" ", 1)[0]
    if stray.startswith("--") and stray[2:].split("=")[0] in allowed:
        raise UsageError(f"option {stray} needs a value")
    return opts, rest.strip()


def find_apps(before: dict[str, int], namespace: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(name, app)`` for the apps a cell defined: names new or rebound since ``before``
    (``{name: id(value)}``) whose value is an app class (not a base of another one) or
    instance; bare marked functions make one :class:`CellApp` (named ``cell``) when
    there is no class."""
    changed = {k: v for k, v in namespace.items()
               if not k.startswith("_") and before.get(k) != id(v)}
    classes = [(k, v) for k, v in changed.items()
               if inspect.isclass(v) and marks.has_callbacks(v)]
    # a base class the cell imported (or defined) for its apps is not an app of its own
    classes = [(k, v) for k, v in classes
               if not any(w is not v and issubclass(w, v) for _, w in classes)]
    made = {v for _, v in classes}
    instances = [(k, v) for k, v in changed.items()
                 if not inspect.isclass(v) and not inspect.isroutine(v)
                 and not isinstance(v, types.ModuleType) and type(v) not in made
                 and _is_app_instance(v)]
    found = classes + instances
    if found:
        return found
    funcs = {k: v for k, v in changed.items()
             if inspect.isfunction(v) and getattr(v, marks.EVENTS_ATTR, None)}
    if funcs:
        return [("cell", CellApp("cell", funcs))]
    return []


def _is_app_instance(obj: Any) -> bool:
    try:
        return marks.has_callbacks(obj)
    except Exception:  # an exotic object whose attributes cannot all be read
        return False


@magics_class
class LabMagics(Magics):
    """``%%app``, ``%esl`` and ``%lab`` (see the module doc)."""

    def _lab(self, name: str | None) -> Lab:
        if name is None:
            try:
                return current()
            except LookupError as exc:
                raise UsageError(str(exc)) from None
        ns = self.shell.user_ns if self.shell is not None else {}
        if name not in ns:
            raise UsageError(f"--lab {name}: no variable {name!r} in the notebook")
        lab = ns[name]
        if not isinstance(lab, Lab):
            raise UsageError(f"--lab {name}: {name} is a {type(lab).__name__}, not a Lab")
        return lab

    @cell_magic
    def app(self, line: str, cell: str) -> None:
        """Run the cell and hot-swap the apps it defines into the lab (see module doc)."""
        opts, rest = split_options(line, ("id", "lab"))
        if rest:
            raise UsageError(f"%%app takes [--id APP_ID] [--lab NAME], not {rest!r}")
        lab = self._lab(opts.get("lab"))
        ns = self.shell.user_ns
        before = {k: id(v) for k, v in ns.items()}
        result = self._run_as_this_cell(cell)
        if not result.success:  # the traceback was shown; load nothing
            return
        found = find_apps(before, ns)
        if not found:
            print("%%app: the cell defined no app (a class with @callback, @coroutine or "
                  "@handler methods); nothing loaded")
            return
        app_id = opts.get("id")
        if app_id and len(found) > 1:
            raise UsageError(f"--id {app_id}: the cell defined {len(found)} apps "
                             f"({', '.join(n for n, _ in found)}); give each its own cell")
        for name, obj in found:
            try:
                report: LoadReport = sync.run(lab.load_app(obj, app_id or name))
            except AppError as exc:
                print(f"%%app: {name} not loaded: {exc}")
                continue
            display(report)  # this output then collects the app's errors as they come

    def _run_as_this_cell(self, cell: str) -> Any:
        """Run the cell's body so that a traceback names this cell and its lines: IPython
        has already counted this cell (its number is one behind) and the body starts on
        the cell's second line (after ``%%app``)."""
        shell = self.shell
        count = shell.execution_count
        shell.execution_count = max(1, count - 1)
        try:
            return shell.run_cell("# %%app\n" + cell, store_history=False)
        finally:
            shell.execution_count = count

    @line_magic
    def esl(self, line: str) -> None:
        """``%esl [--lab NAME] [--node NODE] <command>``: api command on the lab's nodes."""
        opts, command = split_options(line, ("lab", "node"))
        if not command:
            raise UsageError("usage: %esl [--lab NAME] [--node NODE] <api command>, "
                             "e.g. %esl status")
        lab = self._lab(opts.get("lab"))
        node: Any = opts.get("node")
        if node is not None and node.isdigit():
            node = int(node)
        try:
            replies = sync.run(lab.api(command, node))
        except KeyError as exc:
            raise UsageError(f"--node: {exc.args[0] if exc.args else exc}") from None
        for name, reply in replies.items():
            print(f"[{name}] {command}")
            print(reply.rstrip("\n") if reply.strip() else "(empty reply)")

    @line_magic("lab")
    def lab_status(self, line: str) -> None:
        """``%lab [--lab NAME]``: the lab's status line."""
        opts, rest = split_options(line, ("lab",))
        if rest:
            raise UsageError(f"%lab takes [--lab NAME], not {rest!r}")
        print(self._lab(opts.get("lab")).status())


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext switchio_lab``: register the magics."""
    ipython.register_magics(LabMagics)


def unload_ipython_extension(ipython: Any) -> None:  # pragma: no cover - IPython's business
    pass


__all__ = ["CellApp", "LabMagics", "find_apps", "load_ipython_extension", "split_options"]
