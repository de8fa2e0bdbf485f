"""Settings: typed, validated, from the environment or a file; a bad one stops start-up by name."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr

from stream.settings import Settings, SettingsError, load_settings


def test_defaults_point_at_the_local_stack():
    settings = load_settings()
    assert settings.kafka.bootstrap == f"127.0.0.1:{settings.stack.kafka_port}"
    assert settings.redis.url == f"redis://127.0.0.1:{settings.stack.redis_port}/0"
    assert settings.topics.dlq == "events.dlq" and settings.topics.items == "shop.items"


def test_environment_variables_with_the_prefix_are_read(monkeypatch):
    monkeypatch.setenv("RECSTREAM_PARTITIONS", "12")
    monkeypatch.setenv("RECSTREAM_TOPIC_CLICKS", "web.clicks")
    settings = load_settings()
    assert settings.kafka.partitions == 12 and settings.topics.clicks == "web.clicks"


def test_a_config_file_is_read_and_the_environment_wins_over_it(tmp_path, monkeypatch):
    config = tmp_path / "recstream.toml"
    config.write_text('partitions = 8\nkey_prefix = "shop1"\n')
    monkeypatch.setenv("RECSTREAM_CONFIG_FILE", str(config))
    monkeypatch.setenv("RECSTREAM_PARTITIONS", "6")
    settings = load_settings()
    assert (settings.kafka.partitions, settings.redis.key_prefix) == (6, "shop1")


@pytest.mark.parametrize("name, value, expected", [
    ("RECSTREAM_PARTITIONS", "many", "RECSTREAM_PARTITIONS"),
    ("RECSTREAM_KAFKA_BOOTSTRAP", "localhost", "RECSTREAM_KAFKA_BOOTSTRAP"),
    ("RECSTREAM_REDIS_URL", "http://x", "RECSTREAM_REDIS_URL"),
    ("RECSTREAM_BATCH_SIZE", "0", "RECSTREAM_BATCH_SIZE"),
    ("RECSTREAM_KEY_PREFIX", "has space", "RECSTREAM_KEY_PREFIX"),
    # A mistyped name must not pass silently (RECSTREAM_SNAPSHOT_KEY meant).
    ("RECSTREAM_SNAPHOT_KEY", "secret", "unknown setting RECSTREAM_SNAPHOT_KEY"),
])
def test_a_bad_setting_is_named(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=expected):
        load_settings()


def test_sasl_without_credentials_is_refused():
    with pytest.raises(SettingsError, match="kafka_sasl_mechanism"):
        load_settings(kafka_security_protocol="SASL_SSL")


def test_a_missing_config_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("RECSTREAM_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"nope\.toml"):
        load_settings()


def test_a_bad_setting_stops_the_worker_before_it_starts_with_a_message_naming_it():
    env = {"RECSTREAM_PARTITIONS": "-3", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "stream.cli", "worker"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "RECSTREAM_PARTITIONS" in result.stderr and "greater than or equal to 1" in result.stderr


def test_settings_are_frozen_and_secrets_stay_hidden():
    settings = load_settings(redis_password="hunter2")
    with pytest.raises(ValueError):
        settings.partitions = 3  # type: ignore[misc]
    assert "hunter2" not in repr(settings)
    assert settings.to_env()["RECSTREAM_REDIS_PASSWORD"] == "hunter2"


def test_namespaced_copies_share_nothing_by_name():
    a, b = Settings().namespaced("a"), Settings().namespaced("b")
    assert set(a.topics.events).isdisjoint(b.topics.events)
    assert a.redis.key_prefix != b.redis.key_prefix and a.worker.app_id != b.worker.app_id
    assert a.stack.state_dir != b.stack.state_dir


def test_the_demo_data_folder_and_the_config_file_are_not_settings(monkeypatch, tmp_path):
    config = tmp_path / "recstream.toml"
    config.write_text("partitions = 3\n")
    monkeypatch.setenv("RECSTREAM_DATA", str(tmp_path))
    monkeypatch.setenv("RECSTREAM_CONFIG_FILE", str(config))
    assert load_settings().kafka.partitions == 3


def test_an_unknown_key_in_the_config_file_is_named(monkeypatch, tmp_path):
    config = tmp_path / "recstream.toml"
    config.write_text("partitons = 3\n")
    monkeypatch.setenv("RECSTREAM_CONFIG_FILE", str(config))
    with pytest.raises(SettingsError, match="unknown setting RECSTREAM_PARTITONS"):
        load_settings()


def test_every_setting_keeps_its_flat_name_in_the_environment():
    settings = load_settings(partitions=5, worker_session_timeout_s=12.0, learning=False)
    env = settings.to_env()
    assert (env["RECSTREAM_PARTITIONS"], env["RECSTREAM_WORKER_SESSION_TIMEOUT_S"],
            env["RECSTREAM_LEARNING"]) == ("5", "12.0", "False")
    assert Settings(**{k.removeprefix("RECSTREAM_").lower(): v for k, v in env.items()}) == settings


@pytest.mark.parametrize("key", ["change-me-to-a-long-random-secret", "too-short-to-be-a-key"])
def test_a_placeholder_or_short_snapshot_key_is_refused_and_never_echoed(key):
    with pytest.raises(SettingsError, match="RECSTREAM_SNAPSHOT_KEY") as refused:
        load_settings(snapshot_key=key)
    assert key not in str(refused.value)


def test_outside_the_local_stack_a_worker_needs_a_snapshot_key():
    elsewhere = load_settings(kafka_bootstrap="kafka:9092", redis_url="redis://redis:6379/0")
    with pytest.raises(SettingsError, match="missing setting RECSTREAM_SNAPSHOT_KEY"):
        elsewhere.check_deployment()
    load_settings().check_deployment()  # the local stack keeps a key in its state folder
    elsewhere.replace(snapshot_key=SecretStr("f" * 64)).check_deployment()


def test_a_secret_may_come_from_a_file_as_mounted_secrets_do(monkeypatch, tmp_path):
    secret = tmp_path / "snapshot_key"
    secret.write_text("0123456789abcdef" * 4 + "\n")
    monkeypatch.setenv("RECSTREAM_SNAPSHOT_KEY_FILE", str(secret))
    assert load_settings().learning.snapshot_key.get_secret_value() == "0123456789abcdef" * 4
    monkeypatch.setenv("RECSTREAM_SNAPSHOT_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="RECSTREAM_SNAPSHOT_KEY_FILE"):
        load_settings()
