"""Certamen: a real-time voting system for a contest of Guatemalan music bands."""

__version__ = "0.1.0"
