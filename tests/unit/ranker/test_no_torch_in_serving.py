"""The serving install has no torch: only the trainer's two modules import it, the installed
dependencies do not name it, and a worker's whole import path runs without it."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TRAINER = {"models/ranker/net.py", "models/ranker/train.py"}


def test_only_the_trainer_imports_torch():
    importers = set()
    for path in [*ROOT.joinpath("models").rglob("*.py"), *ROOT.joinpath("stream").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "torch" or name.startswith("torch.") for name in names):
                importers.add(str(path.relative_to(ROOT)))
    assert importers == TRAINER


def test_torch_is_only_in_the_train_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("torch") for d in project["dependencies"])
    assert any(d.startswith("torch") for d in project["optional-dependencies"]["train"])


def test_a_worker_the_cli_and_the_ranker_commands_load_without_torch():
    # A meta-path hook that refuses torch: importing it anywhere on these paths fails.
    code = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch imported on the serving path")
sys.meta_path.insert(0, NoTorch())
import stream.cli, stream.ops.worker, stream.ranker.commands, stream.transport.control
import stream.bench.ranker, models.ranker.serving
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
