"""Cosmo's domain: aggregates, events, value objects and the application service.

Pure Python by rule: only the standard library and ``eventsourcing`` may be imported here.
"""
