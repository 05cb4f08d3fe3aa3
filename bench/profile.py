"""Where an append's time goes: py-spy samples a workload and prints the hottest frames.

``python -m bench.profile [append-1|append-batch|http-append] [--top N]`` runs the
workload in a child process under ``py-spy record`` (raw format), then prints, for the
samples inside the store's ``append`` (or the Flask app for ``http-append``), the share
of time each frame accounts for inclusively and on its own, as Markdown tables.
py-spy needs ptrace rights (root, or ``kernel.yama.ptrace_scope = 0``).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the workloads: the Python each child runs, and the frame that marks the measured part
WORKLOADS = {
    "append-1": ("one event per append, 4,000 appends", "EventStore.append", """
import tempfile, bench.append as b
from ledger.store import open_store
store = open_store(f"sqlite:///{tempfile.mkdtemp()}/p.db"); store.init()
streams = b._our_events(400, 10)
flat = [s[i] for i in range(10) for s in streams]
for event in flat: store.append([event], actor="bench")
"""),
    "append-batch": ("100 events per append, 40,000 events", "EventStore.append", """
import tempfile, bench.append as b
from ledger.store import open_store
store = open_store(f"sqlite:///{tempfile.mkdtemp()}/p.db"); store.init()
flat = [e for s in b._our_events(4000, 10) for e in s]
for i in range(0, len(flat), 100): store.append(flat[i:i + 100], actor="bench")
"""),
    "http-append": ("POST /v1/claims/{id}/notes through the Flask app in process, 2,000 times",
                    "Flask.__call__", """
import os, subprocess, sys, tempfile
from api import create_app
d = tempfile.mkdtemp()
os.environ.update(LEDGER_RATE_LIMIT="off", LEDGER_REQUEST_LOG="0", LEDGER_DATA_DIR=d,
                  LEDGER_DATABASE_URL=f"sqlite:///{d}/p.db", LEDGER_REDIS_URL="redis://127.0.0.1:1/0")
cli = [sys.executable, "-c", "from api.cli import main; main()"]
subprocess.run([*cli, "init"], check=True, capture_output=True)
token = subprocess.run([*cli, "tokens", "create", "--name", "profile", "--role", "editor"],
                       check=True, capture_output=True, text=True).stdout.strip()
app = create_app()
client = app.test_client()
auth = {"Authorization": f"Bearer {token}"}
claim = client.post("/v1/claims", headers=auth, json={"statement": "Iran builds two plants.",
    "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "Fars News Agency"}})
cid = claim.get_json()["claim_id"]
for _ in range(2000):
    client.post(f"/v1/claims/{cid}/notes", headers=auth, json={"text": "Checked."})
"""),
}


def _location(frame: str) -> str:
    """``function (path:line)`` without the line, so a function's lines add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarise(raw: Path, marker: str, top: int) -> str:
    """Markdown tables of the hottest frames among samples that pass through ``marker``."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_location(f) for f in stack.split(";")]
        if not any(f.startswith(marker + " ") for f in frames):
            continue
        n = int(count)
        total += n
        start = next(i for i, f in enumerate(frames) if f.startswith(marker + " "))
        for frame in set(frames[start:]):
            inclusive[frame] += n
        own[frames[-1]] += n
    out = [f"{total} samples inside `{marker}`", "", "| inclusive | frame |", "|---:|---|"]
    out += [f"| {n / total:.0%} | `{f}` |" for f, n in inclusive.most_common(top)]
    out += ["", "| own | frame |", "|---:|---|"]
    out += [f"| {n / total:.0%} | `{f}` |" for f, n in own.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Profile one workload and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=sorted(WORKLOADS), nargs="?", default="append-batch")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed (pip install -e '.[bench]')", file=sys.stderr)
        return 1
    title, marker, code = WORKLOADS[args.workload]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        subprocess.run(
            [spy, "record", "--format", "raw", "--rate", str(args.rate), "--output", str(raw),
             "--", sys.executable, "-c", code],
            cwd=ROOT, check=True, capture_output=True,
        )
        print(f"### {args.workload}: {title}\n")
        print(summarise(raw, marker, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
