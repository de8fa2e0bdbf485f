"""One typed, validated, frozen settings object for every recstream process, in sections.

Each part of the code takes only its section: the Kafka clients :class:`KafkaSettings`, the Redis
clients :class:`RedisSettings`, the local stack :class:`StackSettings`, and so on. Users still
name a setting by one flat name (``RECSTREAM_PARTITIONS``, ``key_prefix = "rs"`` in the file):
each section field carries its flat name as its alias, so environment variables, the TOML file
and keyword overrides keep the names operators already use.

Values come, highest priority first, from keyword arguments, environment variables prefixed
``RECSTREAM_`` and an optional TOML file named by ``RECSTREAM_CONFIG_FILE`` (see
``deploy/recstream.example.toml``). A bad value stops start-up with a message naming the setting
(:func:`load_settings` turns pydantic's error into :class:`SettingsError`), and so does an unknown
``RECSTREAM_*`` variable: a mistyped name must not pass silently.

>>> settings = load_settings(partitions=2, topic_clicks="web.clicks")
>>> settings.kafka.partitions, settings.topics.clicks
(2, 'web.clicks')
>>> load_settings(snaphot_key="x")
Traceback (most recent call last):
...
stream.settings.SettingsError: unknown setting RECSTREAM_SNAPHOT_KEY
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from stream.settings.sections import (
    SECTIONS,
    KafkaSettings,
    LearningSettings,
    RedisSettings,
    Section,
    ServingSettings,
    StackSettings,
    TopicSettings,
    WorkerSettings,
)

__all__ = ["FLAT", "SECRETS", "KafkaSettings", "LearningSettings", "RedisSettings",
           "ServingSettings", "Settings", "SettingsError", "StackSettings", "TopicSettings",
           "WorkerSettings", "load_settings"]

ENV_PREFIX = "RECSTREAM_"
CONFIG_FILE_ENV = "RECSTREAM_CONFIG_FILE"
# RECSTREAM_* variables that are not settings: the config file's path and the demo script's
# data folder.
NOT_SETTINGS = frozenset({CONFIG_FILE_ENV, "RECSTREAM_DATA"})


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it and says what was expected."""


def _flat_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


# The settings that are secrets: each may also be given as RECSTREAM_<NAME>_FILE, a file's path.
SECRETS = frozenset(
    _flat_name(name, info) for cls in SECTIONS.values() for name, info in cls.model_fields.items()
    if info.annotation is not None and "SecretStr" in str(info.annotation))

# flat name -> (section, field): how a flat setting finds its place.
FLAT: dict[str, tuple[str, str]] = {
    _flat_name(name, info): (section, name)
    for section, cls in SECTIONS.items() for name, info in cls.model_fields.items()
}


class Settings(BaseSettings):
    """Everything a recstream process can be told. Hyperparameters of models live with the
    models."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    learning: LearningSettings = Field(default_factory=LearningSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    @model_validator(mode="before")
    @classmethod
    def _nest(cls, data: Any) -> Any:
        """Flat names into their sections; the local stack's ports where no address is given."""
        if not isinstance(data, dict):
            return data
        nested: dict[str, Any] = {}
        for key, value in data.items():
            # "learning" names a section and, as a flat name, whether learning is on.
            if key in SECTIONS and isinstance(value, (dict, Section)):
                section = value.model_dump(by_alias=True) if isinstance(value, Section) else value
                nested.setdefault(key, {}).update(section)
            elif key in FLAT:
                nested.setdefault(FLAT[key][0], {})[key] = value
            else:
                raise ValueError(f"unknown setting {ENV_PREFIX}{key.upper()}")
        stack = nested.get("stack", {})
        kafka, redis = nested.setdefault("kafka", {}), nested.setdefault("redis", {})
        if kafka.get("kafka_bootstrap", kafka.get("bootstrap")) is None:
            kafka["kafka_bootstrap"] = f"127.0.0.1:{stack.get('kafka_port', 19092)}"
        if redis.get("redis_url", redis.get("url")) is None:
            redis["redis_url"] = f"redis://127.0.0.1:{stack.get('redis_port', 16379)}/0"
        return nested

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _FlatEnvironment(settings_cls)]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @property
    def on_local_stack(self) -> bool:
        """Whether Kafka and Redis are the local stack's (`recstream stack up`)."""
        return (self.kafka.bootstrap == f"127.0.0.1:{self.stack.kafka_port}"
                and self.redis.url == f"redis://127.0.0.1:{self.stack.redis_port}/0")

    def check_deployment(self) -> None:
        """What a worker needs beyond valid values: a snapshot key outside the local stack,
        or a worker on another host could neither read its predecessor's snapshots nor trust
        them. Raises :class:`SettingsError` naming the setting."""
        if self.learning.enabled and self.learning.snapshot_key is None and not self.on_local_stack:
            raise SettingsError(
                f"missing setting {ENV_PREFIX}SNAPSHOT_KEY: outside the local stack every worker "
                f"needs the same snapshot key, from a secret (e.g. `openssl rand -hex 32`)")

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name (secrets still wrapped)."""
        values: dict[str, Any] = {}
        for section in SECTIONS:
            part: Section = getattr(self, section)
            for name, info in type(part).model_fields.items():
                values[_flat_name(name, info)] = getattr(part, name)
        return values

    def to_env(self) -> dict[str, str]:
        """These settings as RECSTREAM_* variables, so a child process sees exactly them."""
        env = {}
        for name, value in self.flat().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env

    def replace(self, **flat: Any) -> Settings:
        """A copy with some settings changed, named by their flat names (for tools and tests;
        the values are trusted, not validated again)."""
        updates: dict[str, dict[str, Any]] = {}
        for name, value in flat.items():
            if name not in FLAT:
                raise TypeError(f"unknown setting {name!r}")
            section, field = FLAT[name]
            updates.setdefault(section, {})[field] = value
        return self.model_copy(update={
            section: getattr(self, section).model_copy(update=fields)
            for section, fields in updates.items()})

    def namespaced(self, tag: str) -> Settings:
        """A copy whose topics, consumer group, key prefix and state folder carry ``tag``.

        Tests and benchmarks run side by side on one stack without seeing each other's data.
        """
        topics = {name: f"{getattr(self.topics, name)}-{tag}" for name in TopicSettings.model_fields}
        return self.model_copy(update={
            "topics": self.topics.model_copy(update=topics),
            "worker": self.worker.model_copy(update={"app_id": f"{self.worker.app_id}-{tag}"}),
            "redis": self.redis.model_copy(update={"key_prefix": f"{self.redis.key_prefix}-{tag}"}),
            "stack": self.stack.model_copy(update={"state_dir": self.stack.state_dir / tag}),
        })


class _FlatEnvironment(PydanticBaseSettingsSource):
    """Every ``RECSTREAM_*`` variable by its flat name; an unknown one is refused by name."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole environment at once

    def __call__(self) -> dict[str, Any]:
        values = {}
        for name, value in os.environ.items():
            if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
                continue
            flat = name.removeprefix(ENV_PREFIX).lower()
            if flat.removesuffix("_file") in SECRETS and flat.endswith("_file"):
                # A secret from a file (Docker and Kubernetes mount secrets as files).
                flat, value = flat.removesuffix("_file"), _read_secret(name, value)
            values[flat] = value
        return values


def _read_secret(name: str, path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"{name} names {path!r}, which cannot be read: {exc.strerror}") from None


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise :class:`SettingsError` naming every bad setting.

    >>> load_settings(partitions=0)
    Traceback (most recent call last):
    ...
    stream.settings.SettingsError: invalid setting RECSTREAM_PARTITIONS: Input should be greater than or equal to 1 (got 0)
    """
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{CONFIG_FILE_ENV} names {config_file!r}, which is not a file")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if message.startswith("unknown setting"):
            lines.append(message)
            continue
        loc = [str(part) for part in error["loc"]]
        # ("kafka", "kafka_bootstrap") for a field, ("kafka",) for a section's own check.
        name = f"{ENV_PREFIX}{loc[-1].upper()}" if len(loc) > 1 else "settings"
        shown = not isinstance(error["input"], dict) and loc[-1] not in SECRETS
        got = f" (got {error['input']!r})" if shown else ""  # a secret is never echoed
        lines.append(f"invalid setting {name}: {message}{got}")
    return "; ".join(lines)
