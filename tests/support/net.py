"""Ports: a free one to listen on, and a Redis URL that refuses at once."""

from __future__ import annotations

import socket

#: a Redis URL nothing listens on (port 1 refuses connections at once)
NO_REDIS = "redis://127.0.0.1:1/0"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
