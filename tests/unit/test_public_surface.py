"""The CLI's commands and the modules users import are a contract: pinned here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest


@pytest.mark.parametrize("command", [
    ["stack", "up"], ["stack", "status"], ["stack", "down"], ["worker"], ["replay"],
    ["inspect", "user", "x"], ["recommend", "--user", "x"], ["stats"], ["demo"],
    ["evaluate", "--dataset", "synthetic"], ["bench", "ingest"], ["bench", "freshness"],
    ["bench", "memory"], ["bench", "serve"], ["bench", "retrieval"], ["bench", "ranker"],
    ["ranker", "data"], ["ranker", "train"], ["ranker", "evaluate"], ["ranker", "promote"],
    ["ranker", "rollback"], ["ranker", "list"], ["ranker", "replay"], ["ranker", "retrain"],
])
def test_every_documented_command_exists(command):
    result = subprocess.run([sys.executable, "-m", "stream.cli", *command, "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: recstream" in result.stdout


def test_the_sdk_names_users_import_are_there():
    from stream.contracts.schemas import (
        ClickEvent,
        DeadLetter,
        Impression,
        ItemUpsert,
        PurchaseEvent,
        UserProfile,
        WeatherEvent,
    )
    from stream.contracts.serving import RecommendationReply, RecommendationRequest
    from stream.settings import Settings, SettingsError, load_settings
    from stream.transport.client import (
        AsyncRecommendationClient,
        InvalidRequest,
        RecommendationClient,
        RecommendationFailed,
        RecommendationTimeout,
    )
    from stream.transport.producer import (
        BrokerUnavailable,
        DeliveryError,
        EventProducer,
        InvalidEvent,
    )

    names = [BrokerUnavailable, DeliveryError, EventProducer, InvalidEvent, ClickEvent,
             DeadLetter, Impression, ItemUpsert, PurchaseEvent, RecommendationRequest,
             RecommendationReply, UserProfile, WeatherEvent, Settings, SettingsError,
             load_settings, RecommendationClient, AsyncRecommendationClient,
             RecommendationTimeout, RecommendationFailed, InvalidRequest]
    for obj in names:
        assert inspect.isclass(obj) or inspect.isfunction(obj), obj
        assert obj.__module__.startswith("stream."), (obj, obj.__module__)


MODELS_PUBLIC = [
    "Baskets", "BiasedMFBaseline", "CoVisitation", "Context", "ContextBlind", "ContextModel",
    "ContextReranked", "ForwardDecay", "HybridRecommender", "ImpressionJoiner", "Interaction",
    "ItemInfo", "ItemStep", "Labelled", "MostPopular", "NegativeSampler", "OnlineMF", "Origin",
    "PrequentialEvaluator", "RankingMetrics", "Recommender", "Scored", "Scorer", "Trending",
]


def models_modules() -> list[ModuleType]:
    import models

    return [importlib.import_module(f"models.{info.name}")
            for info in pkgutil.iter_modules(models.__path__)]


def test_the_models_package_exports_exactly_its_public_names():
    import models

    assert models.__all__ == MODELS_PUBLIC == sorted(MODELS_PUBLIC)
    namespace: dict[str, object] = {}
    exec("from models import *", namespace)
    assert set(MODELS_PUBLIC) <= set(namespace)
    homes = {name: module for module in models_modules() for name in module.__all__}
    for name in MODELS_PUBLIC:  # each is its module's own public object
        assert namespace[name] is getattr(models, name) is getattr(homes[name], name), name


def test_every_models_module_lists_its_public_names():
    for module in models_modules():
        assert module.__all__, module.__name__
        for name in module.__all__:
            assert not name.startswith("_") and hasattr(module, name), (module.__name__, name)


def test_importing_the_models_data_types_does_not_import_river():
    code = ("import sys, models\n"
            "from models import Context, Interaction, Origin\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in {'river', 'scipy'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_models_never_import_the_stream_package():
    code = ("import sys, pkgutil, importlib, models\n"
            "for m in pkgutil.iter_modules(models.__path__): importlib.import_module('models.' + m.name)\n"
            "print(sorted(k for k in sys.modules if k == 'stream' or k.startswith('stream.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
