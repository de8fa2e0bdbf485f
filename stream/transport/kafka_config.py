"""Kafka client configuration from the settings, for librdkafka (confluent-kafka) and aiokafka.

Security settings are plain settings (DESIGN decision 7): off on the local stack, SASL/TLS when set.
"""

from __future__ import annotations

import ssl
from typing import Any

from stream.settings import Settings


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """librdkafka properties shared by producers, consumers and the admin client."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        config["sasl.password"] = password.get_secret_value() if password else None
    if settings.kafka_ssl_cafile:
        config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
    config.update(extra)
    return config


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka consumers and producers (the client under Faust)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_context"] = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        config.update(sasl_mechanism=settings.kafka_sasl_mechanism,
                      sasl_plain_username=settings.kafka_sasl_username,
                      sasl_plain_password=password.get_secret_value() if password else None)
    return config


def faust_broker_credentials(settings: Settings) -> Any:
    """Faust's credentials object for the configured security protocol, or None for PLAINTEXT."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else None,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=context if protocol == "SASL_SSL" else None,
    )
