"""The bench harness's groups: one this checkout lacks is skipped, one that breaks is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import run


@pytest.fixture
def groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package of groups: one measuring, one importing a module that is not there."""
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fine.py").write_text(
        "def run(quick, postgres):\n"
        "    return [{'scenario': 'fine-1', 'ours': 1.0, 'unit': 'x/s'}]\n"
    )
    (package / "broken.py").write_text("import tests.no_such_helper_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BENCH_DIR", str(tmp_path / "var"))
    monkeypatch.setattr(run, "GROUPS", [
        ("fakebench.fine", ("fine-1",)),
        ("fakebench.absent", ("absent-1",)),
        ("fakebench.broken", ("broken-1",)),
    ])


@pytest.mark.usefixtures("groups")
def test_a_group_missing_from_the_checkout_is_listed_as_not_measured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run.main(["--quick", "--only", "fine,absent"]) == 0
    out = capsys.readouterr().out
    assert "fine-1" in out
    assert "not measured (module missing): absent-1" in out


@pytest.mark.usefixtures("groups")
def test_a_group_that_cannot_import_what_it_needs_fails_the_run_by_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run.main(["--quick"]) == 1
    out = capsys.readouterr().out
    assert "fine-1" in out
    assert "fakebench.broken (No module named 'tests.no_such_helper_module')" in out
