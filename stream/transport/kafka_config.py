"""Kafka client configuration from the settings, for librdkafka (confluent-kafka) and aiokafka.

Security settings are plain settings (DESIGN decision 7): off on the local stack, SASL/TLS when set.
"""

from __future__ import annotations

import ssl
from typing import Any

from stream.settings import KafkaSettings


def client_config(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """librdkafka properties shared by producers, consumers and the admin client."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap,
        "security.protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        config["sasl.mechanism"] = kafka.sasl_mechanism
        config["sasl.username"] = kafka.sasl_username
        password = kafka.sasl_password
        config["sasl.password"] = password.get_secret_value() if password else None
    if kafka.ssl_cafile:
        config["ssl.ca.location"] = str(kafka.ssl_cafile)
    config.update(extra)
    return config


def producer_config(kafka: KafkaSettings, **extra: Any) -> dict[str, Any]:
    """librdkafka properties of an idempotent producer with acks=all (retries neither lose nor
    duplicate), keys partitioned by murmur2 as Kafka's Java client and aiokafka partition them,
    so a user's messages land on the user's partition whichever client sends them."""
    return client_config(kafka, **{
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": kafka.producer_compression,
        "linger.ms": kafka.producer_linger_ms,
        "message.timeout.ms": kafka.producer_delivery_timeout_ms,
        "partitioner": "murmur2_random",
        "log_level": 3,
        **extra,
    })


def aiokafka_config(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for aiokafka consumers and producers (the client under Faust)."""
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap.split(","),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_context"] = ssl.create_default_context(
            cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.sasl_mechanism:
        password = kafka.sasl_password
        config.update(sasl_mechanism=kafka.sasl_mechanism,
                      sasl_plain_username=kafka.sasl_username,
                      sasl_plain_password=password.get_secret_value() if password else None)
    return config


def faust_broker_credentials(kafka: KafkaSettings) -> Any:
    """Faust's credentials object for the configured security protocol, or None for PLAINTEXT."""
    import faust

    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(
        cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None
    )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    password = kafka.sasl_password
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=password.get_secret_value() if password else None,
        mechanism=kafka.sasl_mechanism,
        ssl_context=context if protocol == "SASL_SSL" else None,
    )
