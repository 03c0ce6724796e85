"""``switchio-lab lab``: JupyterLab on the notebooks."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lab", help="start JupyterLab on the notebooks",
                       description="Start JupyterLab on ./notebooks (or the given directory), "
                                   "bound to 127.0.0.1 unless --ip says otherwise.")
    p.add_argument("directory", nargs="?", default=None)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("extra", nargs=argparse.REMAINDER, help="passed on to jupyter lab")
    p.set_defaults(func=run)


def lab_command(args: argparse.Namespace) -> list[str]:
    """The ``jupyter lab`` command line ``switchio-lab lab`` runs."""
    import shutil

    jupyter = shutil.which("jupyter") or str(Path(sys.executable).with_name("jupyter"))
    if not Path(jupyter).exists():
        raise SystemExit("switchio-lab lab: JupyterLab is not installed; "
                         "pip install 'switchio-lab[lab]' (or run 'make lab')")
    directory = Path(args.directory or ("notebooks" if Path("notebooks").is_dir() else "."))
    cmd = [jupyter, "lab", f"--ServerApp.root_dir={directory}", f"--ip={args.ip}"]
    if args.port:
        cmd.append(f"--port={args.port}")
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    cmd += [a for a in args.extra if a != "--"]
    return cmd


def run(args: argparse.Namespace) -> int:
    import subprocess

    return subprocess.call(lab_command(args))

