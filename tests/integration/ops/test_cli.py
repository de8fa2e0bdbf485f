"""The CLI as an operator uses it, against the real stack."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from stream.ops.fleet import REPO_ROOT
from stream.settings import Settings
from tests.integration.conftest import wait_until
from tests.integration.traffic import BASE_TS, applied_events, mixed_traffic, send_raw

pytestmark = pytest.mark.integration


def recstream(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], cwd=REPO_ROOT,
                          env=settings.to_env() | {"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_stack_status_reports_pids_ports_and_logs(stack):
    result = recstream(stack, "stack", "status", "--json")
    assert result.returncode == 0, result.stderr
    services = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    assert services["kafka"]["running"] and services["redis"]["running"]
    assert services["kafka"]["port"] == stack.stack.kafka_port
    assert services["redis"]["log"].endswith("redis.log")


def test_a_second_stack_up_finds_the_running_stack(stack):
    before = json.loads(recstream(stack, "stack", "status", "--json").stdout)
    result = recstream(stack, "stack", "up", "--json")
    assert result.returncode == 0, result.stderr
    after = json.loads(result.stdout)
    assert [s["pid"] for s in after["services"]] == [s["pid"] for s in before["services"]]


def test_replay_then_inspect_shows_what_the_workers_learned(settings, start_worker, redis_client):
    start_worker()
    replay = recstream(settings, "replay", "--source", "synthetic", "--seed", "3", "--limit",
                       "8000", "--no-progress", "--json")
    assert replay.returncode == 0, replay.stderr
    summary = json.loads(replay.stdout)
    assert summary["sent"] == 8000
    wait_until(lambda: applied_events(redis_client, settings) + int(
        redis_client.hget(f"{settings.redis.key_prefix}:stats", "items") or 0) + int(
        redis_client.hget(f"{settings.redis.key_prefix}:stats", "users") or 0) >= 8000, 120,
        "the replay to be applied")

    user = summary["most_active_user_id"]
    inspected = json.loads(recstream(settings, "inspect", "user", user, "--json").stdout)
    assert inspected["known"] and inspected["clicks"] + inspected["purchases"] > 0
    assert inspected["recent_items"] and inspected["location"]
    assert inspected["weather"]["condition"] in {"clear", "cloudy", "rain", "snow", "storm", "fog"}
    item = inspected["recent_items"][0]
    item_view = json.loads(recstream(settings, "inspect", "item", item, "--json").stdout)
    assert item_view["clicks"] + item_view["purchases"] >= 1
    assert item_view["meta"]["category"]


def test_replay_of_a_missing_file_names_it(settings):
    result = recstream(settings, "replay", "--source", "online-retail", "--path", "/nope.csv.gz")
    assert result.returncode == 1 and "/nope.csv.gz" in result.stderr


@pytest.mark.parametrize("command", [("stats",), ("inspect", "user", "u1")])
def test_a_tool_without_redis_says_where_it_looked_and_hides_the_password(settings, command):
    nowhere = settings.replace(redis_url="redis://ops:hunter2@127.0.0.1:1/0",
                               redis_connect_timeout_s=1.0)
    result = recstream(nowhere, *command)
    assert result.returncode == 1
    assert result.stderr.startswith("recstream: Redis did not answer at redis://127.0.0.1:1/0")
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_stats_reports_what_the_fleet_applied_dead_lettered_and_learned(
        settings, start_worker, redis_client):
    worker = start_worker()
    traffic = mixed_traffic(settings, 3_000, malformed_every=50, seed=8)
    send_raw(settings, traffic.messages)
    interactions = sum(traffic.item_clicks.values()) + sum(traffic.item_purchases.values())

    def report() -> dict:
        result = recstream(settings, "stats", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def learned_and_stepped(stats: dict) -> bool:
        return stats["learned"] >= interactions and sum(
            s["item_steps_applied"] for s in stats["shards"]) >= interactions

    wait_until(lambda: learned_and_stepped(report()), 120, "everything learned",
               workers=[worker])
    stats = report()
    assert set(stats) == {"applied", "dead_letters", "dead_letter_reasons", "rekeyed",
                          "redated", "requests", "learned", "shards"}
    assert stats["redated"] == 0  # the traffic is dated in 2011
    assert stats["requests"] == {"answered": 0, "errors": 0}
    # Each shard learned up to one of the traffic's event times: a second apart from BASE_TS.
    assert all(BASE_TS <= datetime.fromisoformat(s["learned_to"])
               <= BASE_TS + timedelta(seconds=3_000) and s["behind_s"] > 0
               for s in stats["shards"] if s["learned"])
    applied = stats["applied"]
    assert applied["clicks"] + applied["purchases"] + applied["weather"] == traffic.valid_count
    assert stats["dead_letters"] == len(traffic.malformed)
    assert sum(stats["dead_letter_reasons"].values()) == len(traffic.malformed)
    assert "invalid JSON" in stats["dead_letter_reasons"]
    assert stats["learned"] == interactions == sum(s["learned"] for s in stats["shards"])
    assert sum(s["item_steps_applied"] for s in stats["shards"]) == interactions
    assert len(stats["shards"]) == settings.kafka.partitions
    assert [s["unread"] for s in stats["shards"]] == [0] * settings.kafka.partitions
