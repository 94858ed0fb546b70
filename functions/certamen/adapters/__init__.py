"""Thin adapters between our contract and the servers: Kafka, Redis, MongoDB.

Each module wraps one client library, creates its clients from settings passed
in and maps errors to ours. May import ``certamen.settings``, ``certamen.logs``
and ``certamen.contract``; nothing of the services that use it.
"""
