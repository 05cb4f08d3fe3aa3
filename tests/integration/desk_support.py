"""The desk over real views: an app whose Redis is a real redis-server, and the views
brought to the log's head in-process (no worker), so pages that read the views can be
tested as they are served."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from api.view_service import view_service
from tests.support.api_harness import ApiHarness
from tests.support.redis_server import RedisServer
from workers.coordination import read_pointer
from workers.projector import Projector
from workers.rebuild import rebuild


@pytest.fixture(name="views_server", scope="module")
def views_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for a test module (each app has a namespace of its own)."""
    with RedisServer(tmp_path_factory.mktemp("desk-redis")) as running:
        yield running


@dataclass
class ViewedApi:
    """An ``ApiHarness`` on real views, and the way to bring them up to date."""

    api: ApiHarness
    redis: Redis

    def project(self) -> int:
        """Apply the log to the views up to its head (a first call builds them)."""
        with self.api.app.app_context():
            config = view_service().config
        store = self.api.store
        live = read_pointer(self.redis, config.keys)
        if live is None:
            result = rebuild(self.redis, store, config, "desk-test")
            assert result is not None
            return result.head
        with Projector(self.redis, store, config, store.scales) as projector:
            return projector.run(live.generation, live.partitions, range(live.partitions))


def viewed_api(tmp_path: Path, server: RedisServer, **config: Any) -> ViewedApi:
    """A fresh app on ``server``, whose database is emptied first (the tests of one
    process share the server one after another)."""
    redis = server.client()
    redis.flushdb()
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path, REDIS_URL=server.url, **config)
    viewed = ViewedApi(api, redis)
    viewed.project()  # views exist before the first append asks a worker to build them
    return viewed
