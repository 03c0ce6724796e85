"""The IPython extension: ``%load_ext switchio_lab``, ``%%app``, ``%esl``, ``%lab``.

These are plain (not async) tests: no loop is running, so the lab lives on the sync
layer's own loop (``Lab.start_sync``), which runs while the magics block -- exactly as
the kernel's loop does in a notebook.
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from switchio_lab import sync
from switchio_lab.lab import Lab, current
from switchio_lab.lab.magics import CellApp, find_apps, split_options

GREETER = '''
import switchio_lab as switchio

class Greeter:
    tag = "{tag}"

    def __init__(self):
        self.hangups = 0

    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        sess.vars["tag"] = self.tag
        if sess.is_inbound():
            sess.answer()

    @switchio.callback("CHANNEL_HANGUP")
    def on_hangup(self, sess):
        self.hangups += 1
'''


@pytest.fixture
def shell():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "switchio_lab")
    yield shell
    for name in [k for k, v in shell.user_ns.items() if isinstance(v, Lab)]:
        del shell.user_ns[name]


@pytest.fixture
def lab():
    lab = Lab.start_sync(nodes=2)
    yield lab
    lab.stop_sync()
    sync.close()


def place_call(lab: Lab, app_id: str, tagged: bool = True) -> str:
    """A call to the next node for ``app_id``; back once both legs are answered (and, for
    the Tagged apps, parked and tagged: past the answer's CS_CONSUME_MEDIA window)."""
    job = sync.run(lab.originate(app_id=app_id))
    assert sync.run(job.wait(5)).startswith("+OK")
    sync.run(lab.wait(lambda: len(lab.calls.get(job.sess_uuid, ())) == 2
                      and all(s.answered and ("tag" in s.vars or not tagged)
                              for s in lab.calls[job.sess_uuid])))
    return job.sess_uuid


def test_app_magic_loads_and_hot_swaps(shell, lab: Lab, capsys) -> None:
    assert current() is lab and lab._probe is None  # own loop: no lag probe
    shell.run_cell_magic("app", "--id greeter", GREETER.format(tag="v1"))
    assert capsys.readouterr().out == "loaded Greeter as 'greeter' on 127.0.0.1, 127.0.0.2\n"
    v1 = lab.apps.instances("greeter")
    assert {type(a).__name__ for a in v1.values()} == {"Greeter"}
    assert shell.user_ns["Greeter"] is type(v1["127.0.0.1"])  # the cell ran in the notebook
    old_call = place_call(lab, "greeter")

    # change the app and swap it in while the call runs
    shell.run_cell_magic("app", "--id greeter", GREETER.format(tag="v2"))
    out = capsys.readouterr().out
    assert out.startswith("replaced 'greeter': Greeter v1 -> Greeter v2 on 127.0.0.1, "
                          "127.0.0.2; 1 call(s) still run the old version")
    new_call = place_call(lab, "greeter")
    tags = lab.sessions_table("tag")
    assert dict(zip(tags["call"], tags["tag"], strict=True)) == {old_call: "v1",
                                                                  new_call: "v2"}
    sync.run(lab.hupall())
    v2 = lab.apps.instances("greeter")
    assert [a.hangups for a in v1.values()] == [1, 1]  # the old call finished on v1
    assert [a.hangups for a in v2.values()] == [1, 1]

    # the app's name is its id by default; --lab names the notebook variable
    shell.user_ns["my_lab"] = lab
    shell.run_cell_magic("app", "--lab my_lab", GREETER.format(tag="v3"))
    assert capsys.readouterr().out.startswith("loaded Greeter as 'Greeter' on")
    assert set(lab.apps.apps) == {"greeter", "Greeter"}


def test_app_magic_finds_what_the_cell_defined(shell, lab: Lab, capsys) -> None:
    # a failing cell loads nothing (its traceback is shown by IPython)
    shell.run_cell_magic("app", "", "class Broken:\n    x = 1 / 0\n")
    assert lab.apps.apps == {}
    # a cell without an app says so
    shell.run_cell_magic("app", "", "x = 42\n")
    assert "defined no app" in capsys.readouterr().out and shell.user_ns["x"] == 42
    # bare marked functions make one app; an instance of a class from another cell is one
    shell.run_cell_magic("app", "--id bare", (
        "import switchio_lab as switchio\n"
        "@switchio.callback('CHANNEL_ANSWER')\n"
        "def on_answer(sess):\n"
        "    sess.vars['seen'] = True\n"))
    assert "loaded cell as 'bare'" in capsys.readouterr().out
    assert isinstance(lab.apps.apps["bare"], CellApp)
    # a base class the cell defined is not loaded: its subclass is
    with pytest.raises(UsageError, match="defined 2 apps"):
        shell.run_cell_magic("app", "--id two", GREETER.format(tag="a") +
                             "\nclass Other(Greeter):\n    pass\n" +
                             GREETER.format(tag="b").replace("Greeter", "Third"))
    shell.run_cell_magic("app", "", GREETER.format(tag="a") + "\nclass Sub(Greeter):\n"
                         "    tag = 'sub'\n")
    assert capsys.readouterr().out.startswith("loaded Sub as 'Sub'")
    assert "Greeter" not in lab.apps.apps
    # an app that fails to load is reported, not raised
    shell.run_cell_magic("app", "--id bad", (
        "import switchio_lab as switchio\n"
        "class Bad:\n"
        "    def prepost(self):\n"
        "        raise RuntimeError('no licence')\n"
        "    @switchio.callback('CHANNEL_ANSWER')\n"
        "    def on_answer(self, sess):\n"
        "        pass\n"))
    assert "Bad not loaded" in capsys.readouterr().out and "bad" not in lab.apps.apps
    with pytest.raises(UsageError, match="takes"):
        shell.run_cell_magic("app", "stray words", "x = 1\n")
    with pytest.raises(UsageError, match="unknown option --node"):
        shell.run_cell_magic("app", "--node 1", "x = 1\n")


def test_esl_and_lab_magics(shell, lab: Lab, capsys) -> None:
    shell.run_line_magic("esl", "global_getvar hostname")
    assert capsys.readouterr().out == ("[127.0.0.1] global_getvar hostname\nswitchio-lab-1\n"
                                       "[127.0.0.2] global_getvar hostname\nswitchio-lab-2\n")
    shell.run_line_magic("esl", "--node 127.0.0.2 global_getvar hostname")
    assert capsys.readouterr().out.splitlines() == ["[127.0.0.2] global_getvar hostname",
                                                    "switchio-lab-2"]
    shell.run_line_magic("esl", "--node 0 bogus_command")
    assert capsys.readouterr().out.splitlines() == ["[127.0.0.1] bogus_command",
                                                    "-ERR bogus_command Command not found!"]
    with pytest.raises(UsageError, match="usage: %esl"):
        shell.run_line_magic("esl", "")
    with pytest.raises(UsageError, match="--node"):
        shell.run_line_magic("esl", "--node 10.9.9.9 status")
    # the commands went through the event log too
    assert lab.events.filter(kind="command", name="api bogus_command")

    shell.run_cell_magic("app", "--id greeter", GREETER.format(tag="v1"))
    place_call(lab, "greeter")
    capsys.readouterr()
    shell.run_line_magic("lab", "")
    line = capsys.readouterr().out
    assert line.startswith("Lab: 2 embedded node(s) (127.0.0.1, 127.0.0.2) | sessions 2 | "
                           "calls 1 | apps: greeter | events ")
    assert line.rstrip().endswith("/s)")
    shell.user_ns["other"] = 42
    with pytest.raises(UsageError, match="other is a int, not a Lab"):
        shell.run_line_magic("lab", "--lab other")
    with pytest.raises(UsageError, match="no variable 'nope'"):
        shell.run_line_magic("lab", "--lab nope")
    sync.run(lab.hupall())


def test_magics_without_a_lab(shell) -> None:
    with pytest.raises(UsageError, match=r"no Lab is running: start one with"):
        shell.run_line_magic("lab", "")
    with pytest.raises(UsageError, match="no Lab is running"):
        shell.run_line_magic("esl", "status")


def test_option_parsing_and_app_finding() -> None:
    assert split_options("--lab L --node 2 show channels --x", ("lab", "node")) == (
        {"lab": "L", "node": "2"}, "show channels --x")
    assert split_options("--id=a", ("id",)) == ({"id": "a"}, "")
    assert split_options("uuid_setvar u v 'a b'", ("lab",)) == ({}, "uuid_setvar u v 'a b'")
    with pytest.raises(UsageError, match="needs a value"):
        split_options("--lab", ("lab",))
    import switchio_lab as switchio

    class App:
        @switchio.callback("CHANNEL_ANSWER")
        def on_answer(self, sess):
            pass

    before = {"App": id(App), "keep": 1}
    ns = {"App": App, "inst": App(), "_private": App, "n": 3}
    assert find_apps(before, ns) == [("inst", ns["inst"])]  # App itself was there already
    assert [n for n, _ in find_apps({}, ns)] == ["App"]  # the instance of a new class: no


def test_app_magic_syntax_error_names_this_cell_and_line(shell, lab: Lab, capsys) -> None:
    shell.run_cell("x = 1", store_history=True)
    number = shell.execution_count
    shell.run_cell("%%app\nclass A:\n    pass\ny = (\n", store_history=True)
    out = capsys.readouterr().out
    assert f"In[{number}]" in out and "line 4" in out, out


FAILING = '''
import switchio_lab as switchio

class Failing:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()

    @switchio.callback("CHANNEL_ANSWER")
    def on_answer(self, sess):
        raise RuntimeError("boom in on_answer")
'''


def test_app_errors_show_in_the_loading_cell_and_in_lab(shell, lab: Lab, capsys,
                                                        caplog) -> None:
    """An exception in an app's callback is kept with its call and event, shown in the
    output of the cell that loaded the app, in ``%lab``, and logged."""
    from switchio_lab.lab.core import _ReportView

    shell.run_cell("%%app --id failing\n" + FAILING, store_history=True)
    assert "loaded Failing as 'failing'" in capsys.readouterr().out
    uuid = place_call(lab, "failing", tagged=False)
    sync.run(lab.wait(lambda: lab.app_error_count >= 2))  # one per leg
    node, failure = lab.app_errors[-1]
    assert failure.app_id == "failing" and failure.event == "CHANNEL_ANSWER"
    assert failure.func.endswith("on_answer") and isinstance(failure.error, RuntimeError)
    assert {f.uuid for _, f in lab.app_errors} >= {uuid}
    view = _ReportView(lab.loads[-1])
    assert "boom in on_answer" in repr(view) and "CHANNEL_ANSWER" in view._repr_html_()
    assert "app error(s)" in capsys.readouterr().out  # the cell's output was updated
    shell.run_line_magic("lab", "")
    assert "app errors 2" in capsys.readouterr().out
    assert any("boom in on_answer" in r.getMessage() for r in caplog.records)
    sync.run(lab.hupall())
