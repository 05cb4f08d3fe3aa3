"""Fault injection: real processes killed, stopped and starved while clients keep working."""
