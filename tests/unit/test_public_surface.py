"""The CLI's commands and the modules users import are a contract: pinned here."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", [
    ["stack", "up"], ["stack", "status"], ["stack", "down"], ["worker"], ["replay"],
    ["inspect", "user", "x"], ["demo"], ["evaluate", "--dataset", "synthetic"],
    ["bench", "ingest"], ["bench", "freshness"], ["bench", "memory"],
])
def test_every_documented_command_exists(command):
    result = subprocess.run([sys.executable, "-m", "stream.cli", *command, "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: recstream" in result.stdout


def test_the_sdk_names_users_import_are_there():
    from stream.transport.producer import BrokerUnavailable, DeliveryError, EventProducer, InvalidEvent
    from stream.contracts.schemas import (ClickEvent, DeadLetter, Impression, ItemUpsert, PurchaseEvent,
                                RecommendationRequest, RecommendationResponse, UserProfile,
                                WeatherEvent)
    from stream.settings import Settings, SettingsError, load_settings

    assert all([BrokerUnavailable, DeliveryError, EventProducer, InvalidEvent, ClickEvent,
                DeadLetter, Impression, ItemUpsert, PurchaseEvent, RecommendationRequest,
                RecommendationResponse, UserProfile, WeatherEvent, Settings, SettingsError,
                load_settings])


def test_models_never_import_the_stream_package():
    code = ("import sys, pkgutil, importlib, models\n"
            "for m in pkgutil.iter_modules(models.__path__): importlib.import_module('models.' + m.name)\n"
            "print(sorted(k for k in sys.modules if k == 'stream' or k.startswith('stream.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
