"""The rooms of the house and the arrows allowed between them, pinned.

stream/ is split by role; a lower room never imports a higher one, and the learning core never
reaches a Kafka or Redis client (so it runs whole in a unit test). Read from the source with
``ast``: a forbidden import fails here even on a line that never runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"aiokafka", "confluent_kafka", "redis", "faust", "mode"}
TOP = {"stream.ops", "stream.bench", "stream.evaluate", "stream.ranker", "stream.cli"}

# room -> the stream rooms and client libraries it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "models": {"stream"} | CLIENTS,
    "stream.contracts": {"stream.transport", "stream.store", "stream.ingest", "stream.learning",
                         "stream.serving", "stream.data"} | TOP | CLIENTS,
    "stream.learning": {"stream.transport", "stream.store", "stream.ingest", "stream.serving",
                        "stream.data"} | TOP | CLIENTS,
    # The request path answers from the learner's shards; its I/O is the store's and the
    # transport's, handed in by the worker.
    "stream.serving": {"stream.transport", "stream.store", "stream.ingest", "stream.data"}
                      | TOP | CLIENTS,
    "stream.store": {"stream.transport", "stream.ingest"} | TOP
                    | {"aiokafka", "confluent_kafka", "faust", "mode"},
    "stream.transport": {"stream.store", "stream.ingest", "stream.learning", "stream.data"}
                        | TOP | {"redis"},
    "stream.ingest": {"stream.transport", "stream.learning"} | TOP
                     | {"aiokafka", "confluent_kafka", "faust", "mode"},
    "stream.data": {"stream.store", "stream.ingest", "stream.learning"} | TOP | {"redis"},
}


def modules(room: str) -> list[Path]:
    return sorted((ROOT / room.replace(".", "/")).rglob("*.py"))


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violates(name: str, forbidden: set[str]) -> bool:
    return any(name == room or name.startswith(room + ".") for room in forbidden)


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_only_what_lies_below_it(room):
    found = modules(room)
    assert found, f"no modules in {room}"
    wrong = {f"{path.relative_to(ROOT)}: {name}" for path in found for name in imported(path)
             if violates(name, FORBIDDEN[room])}
    assert not wrong, "\n".join(sorted(wrong))


def test_the_rule_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from redis.asyncio import Redis\nimport stream.ops.fleet\n")
    assert {name for name in imported(module) if violates(name, FORBIDDEN["stream.learning"])} \
        == {"redis.asyncio", "redis.asyncio.Redis", "stream.ops.fleet"}


@pytest.mark.parametrize("room", ["stream.learning", "stream.serving"])
def test_the_learning_core_and_the_request_path_load_no_client_even_indirectly(room):
    code = (f"import sys, pkgutil, importlib, {room} as room\n"
            "for m in pkgutil.iter_modules(room.__path__): importlib.import_module(f'{room.__name__}.{m.name}')\n"
            f"print(sorted({{k.split('.')[0] for k in sys.modules}} & {CLIENTS!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize("room", ["stream", "models"])
def test_no_module_over_400_lines_and_no_class_over_200(room):
    too_big = []
    for path in modules(room):
        text = path.read_text()
        if text.count("\n") > 400:
            too_big.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 200:
                too_big.append(f"{path.relative_to(ROOT)}: class {node.name} "
                               f"{node.end_lineno - node.lineno + 1} lines")
    assert not too_big, "\n".join(too_big)
