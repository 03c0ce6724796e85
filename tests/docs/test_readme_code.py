"""Every ``python`` block of the README runs, as written, against the embedded switch.

Blocks run in order in one namespace with top-level ``await`` (as in a notebook cell); the
codec block gets ``data``: the bytes of the golden ``call_basic`` capture. Whatever a block
starts (a Cluster, a Service) is stopped afterwards.
"""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path

import pytest

from switchio_lab.testing import scaled

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks():
    assert len(python_blocks(ROOT / "README.md")) >= 3


@pytest.mark.parametrize("index", range(len(python_blocks(ROOT / "README.md"))))
async def test_readme_block_runs(index, fixture_bytes, capsys):
    source = python_blocks(ROOT / "README.md")[index]
    namespace: dict = {"data": fixture_bytes("call_basic.esl")}
    code = compile(source, f"README.md block {index + 1}", "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        result = eval(code, namespace)  # noqa: S307  (our own README)
        if asyncio.iscoroutine(result):
            await asyncio.wait_for(result, scaled(30))
    finally:
        for name in ("service", "cluster"):
            thing = namespace.get(name)
            if thing is not None and hasattr(thing, "stop"):
                await thing.stop()
    out = capsys.readouterr().out
    if "print(" in source:
        assert out.strip(), "the block prints something"
    if "job.wait" in source:
        assert "+OK" in out
