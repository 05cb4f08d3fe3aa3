"""Instructions a whole-log replay spends per event, for ``valgrind --tool=callgrind``.

``python -m bench.replay_cost write FILE [EVENTS]`` writes the JSON lines of a synthetic
log (``GET /v1/events``'s envelopes, seed 1); ``python -m bench.replay_cost replay FILE K``
parses all of FILE and feeds its first K events to ``ledger.replay.Replay`` in pages of
1,000. Run the second under callgrind with K = 0 and K = 10,000: the difference of the
two totals over 10,000 is the replay's instructions per event (parsing and start-up
cancel out), which a loaded machine does not move.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ledger.replay import Replay
from ledger.store import open_store
from workers.synthetic import fill_store

PAGE = 1000


def write(path: Path, events: int) -> None:
    """The first ``events`` envelopes of a synthetic log as JSON lines."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/log.db")
        store.init()
        fill_store(store, events // 4, seed=1, limit=events)
        with path.open("w", encoding="utf-8") as out:
            after = 0
            while rows := store.read_all_json(after, PAGE):
                out.writelines(text + "\n" for _, text in rows)
                after = rows[-1][0]
        store.close()


def replay(path: Path, count: int) -> None:
    """Parse every line of ``path``, then replay the first ``count`` events."""
    with path.open(encoding="utf-8") as lines:
        events = [json.loads(line) for line in lines]
    checker = Replay()
    for start in range(0, min(count, len(events)), PAGE):
        failure = checker.feed(events[start:min(start + PAGE, count)])
        if failure is not None:
            raise SystemExit(f"replay failed: {failure}")
    print(f"replayed {checker.size:,} events, root {checker.root().hex()[:16]}")


def main(argv: list[str] | None = None) -> int:
    """``write FILE [EVENTS]`` or ``replay FILE K``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "write":
        write(Path(args[1]), int(args[2]) if len(args) > 2 else 20_000)
    elif len(args) == 3 and args[0] == "replay":
        replay(Path(args[1]), int(args[2]))
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
