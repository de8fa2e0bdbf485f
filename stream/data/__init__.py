"""Data sets as event streams (sources) and their replay into Kafka."""
