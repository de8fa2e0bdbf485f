"""Ranker versions on the real Redis, with their artefacts in the test's own folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.settings import Settings
from tests.unit.ranker.conftest import synthetic_rows


@pytest.fixture
def ranker_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.replace(ranker_dir=tmp_path / "ranker")


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.npz"
    synthetic_rows().save(path)
    return path
