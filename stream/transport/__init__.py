"""Kafka: client configuration, topics, the batch consumer, the publisher, the broadcast reader, the producer SDK and the model control topic."""
