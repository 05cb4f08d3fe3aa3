"""The claim ledger's domain and log: events, the fold, hashing, the event store.

This package imports neither Flask nor RQ nor Redis.
"""
