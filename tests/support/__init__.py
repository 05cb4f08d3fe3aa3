"""Helpers shared by the test folders and by ``bench/`` (no tests here).

A helper used by one folder only may stay beside its users (``tests/faults/importers.py``,
``tests/powerloss/crashing.py``); anything imported across folders, or by ``bench/``, lives
here. ``bench/`` imports this package only, never a test module or a conftest.
"""
