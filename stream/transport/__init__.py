"""Kafka: client configuration, topics, the batch consumer, the publisher, the broadcast reader and the producer SDK."""
