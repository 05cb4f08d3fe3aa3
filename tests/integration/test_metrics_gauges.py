"""/metrics carries live gauges of the log, and leaves out the views' when Redis is away."""

from __future__ import annotations

from pathlib import Path

from api import create_app


def test_metrics_report_the_head_and_checkpoint_size_even_with_redis_down(tmp_path: Path) -> None:
    app = create_app({
        "DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db", "DATA_DIR": tmp_path,
        "REDIS_URL": "redis://127.0.0.1:1/0", "SIGNING_KEY": tmp_path / "signing.key",
        "RATE_LIMIT": None, "TESTING": True,
    })
    app.extensions["claimledger"].store.init()
    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200
    lines = answer.get_data(as_text=True).splitlines()
    assert "ledger_log_head 0.0" in lines
    assert "ledger_checkpoint_tree_size 0.0" in lines
    assert not any(line.startswith("ledger_projection_lag_events ") for line in lines)


def test_metrics_report_projection_lag_and_queue_depth_when_redis_answers(tmp_path: Path) -> None:
    from tests.support.redis_server import RedisServer

    with RedisServer(tmp_path / "redis") as redis:
        app = create_app({
            "DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db", "DATA_DIR": tmp_path,
            "REDIS_URL": redis.url, "SIGNING_KEY": tmp_path / "signing.key",
            "RATE_LIMIT": None, "TESTING": True,
        })
        app.extensions["claimledger"].store.init()
        lines = app.test_client().get("/metrics").get_data(as_text=True).splitlines()
    assert "ledger_rebuild_in_progress 0.0" in lines
    assert 'ledger_queue_depth{queue="claimledger:queued"} 0.0' in lines
