"""The soak: the whole system under a steady mixed load (``python -m bench.soak``)."""
