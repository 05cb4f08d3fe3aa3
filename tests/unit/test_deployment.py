"""docker-compose.yml and the Dockerfile, checked by reading them (Docker does not run here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from api import cli as cli_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed compose file."""
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


@pytest.fixture(scope="module")
def group() -> click.Group:
    """The claimledger command group with every command registered."""
    cli_module._register()
    return cli_module.cli


def test_the_compose_file_has_the_production_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "redis", "init", "api", "worker", "witness"}


def test_postgres_and_redis_keep_their_data_in_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    assert any(v.startswith("redisdata:") for v in services["redis"]["volumes"])
    assert {"pgdata", "redisdata", "keys"} <= set(compose["volumes"])


def test_redis_runs_with_the_append_only_file(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "api", "witness"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"]
        assert check["interval"]
        assert check["retries"] > 0
    assert "/readyz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


def test_init_runs_once_before_the_api_and_workers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["init"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["worker"]["deploy"]["replicas"] == 2


def _claimledger_commands(compose: dict[str, Any]) -> list[list[str]]:
    commands = [s["command"] for s in compose["services"].values() if "command" in s]
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    commands.append(yaml.safe_load(cmd.group(1)))
    return [c for c in commands if c[0] == "claimledger"]


def test_every_command_the_deployment_runs_exists_in_the_cli(
    compose: dict[str, Any], group: click.Group
) -> None:
    commands = _claimledger_commands(compose)
    assert {c[1] for c in commands} == {"init", "serve", "worker", "witness"}
    for argv in commands:
        command = group.commands.get(argv[1])
        assert command is not None, f"claimledger {argv[1]} does not exist"
        if isinstance(command, click.Group):  # claimledger witness serve …
            command, argv = command.commands.get(argv[2]), argv[1:]
            assert command is not None, f"claimledger {argv[0]} {argv[1]} does not exist"
        options = {opt for p in command.params for opt in getattr(p, "opts", [])}
        for word in argv[2:]:
            if word.startswith("--"):
                assert word in options, f"claimledger {argv[1]} has no option {word}"


def test_every_ledger_variable_the_deployment_sets_is_read_by_the_code(
    compose: dict[str, Any],
) -> None:
    environment = compose["x-ledger-env"]
    sources = "\n".join(p.read_text() for p in (ROOT / "api").rglob("*.py"))
    sources += "\n".join(p.read_text() for p in (ROOT / "workers").rglob("*.py"))
    for name in environment:
        assert name in sources, f"{name} is set by docker-compose.yml but read nowhere"


def test_every_variable_the_compose_file_needs_is_in_the_env_example(
    compose: dict[str, Any],
) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{([A-Z_]+)", text))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert needed <= documented, f"missing from .env.example: {sorted(needed - documented)}"


def test_the_image_runs_as_a_non_root_user_without_build_tools() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a final stage"
    final = stages[-1]
    assert "build-essential" not in final
    assert "gcc" not in final
    user = re.search(r"^USER (\S+)$", final, re.MULTILINE)
    assert user is not None
    assert user.group(1) not in ("root", "0")


def test_the_witness_follows_the_ledger_key_and_the_ledger_sends_to_the_witness(
    compose: dict[str, Any],
) -> None:
    witness = compose["services"]["witness"]
    assert witness["command"][1:3] == ["witness", "serve"]
    port = witness["command"][witness["command"].index("--port") + 1]
    assert witness["environment"]["LEDGER_WITNESS_LOGS"] == "${LEDGER_VERIFIER_KEY:-}"
    assert any(v.startswith("witnessdata:/data") for v in witness["volumes"])
    assert witness["environment"]["LEDGER_WITNESS_DB"].startswith("/data/")
    assert compose["x-ledger-env"]["LEDGER_WITNESSES"] == "${LEDGER_WITNESSES:-}"
    example = (ROOT / ".env.example").read_text()
    assert f"KEY@http://witness:{port}" in example
