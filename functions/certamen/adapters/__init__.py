"""Thin adapters between our contract and the servers: Kafka, Redis, MongoDB."""
