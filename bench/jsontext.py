"""The strict JSON parser beside ``json.loads`` on the API's own request bodies.

``python -m bench.jsontext [--quick]``: per body, the best of many interleaved rounds of
each parser (µs per parse) and the difference. Interleaving keeps a loaded machine from
favouring either side, and CPU time (``time.thread_time``) leaves out the time it
spends running others.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from ledger import jsontext

#: request bodies as the API receives them (a claim, a verdict, a note, a correction)
BODIES: dict[str, Any] = {
    "claim": {
        "statement": "John Kerry personally asked Iran's foreign minister to cooperate.",
        "claimant": {"name": "Ali Khamenei", "same_as": "https://www.wikidata.org/wiki/Q57336"},
        "appearance": {"outlet": "Fars News Agency", "published_at": "2014-09-15T09:00:00+04:30",
                       "quote": "The same U.S. secretary of state had personally demanded Zarif"},
        "language": "en", "tags": ["iran", "isil", "us-foreign-policy"],
        "occurred_at": "2014-09-15T08:30:00+04:30",
    },
    "verdict": {"scale": "standard", "value": "mostly-true", "reviewer": {"name": "Desk"},
                "explanation": "Kerry's own words partly corroborate the overture."},
    "note": {"text": "Check the Persian transcript."},
    "correction": {"target_event_id": "01a239de-32c9-79a4-bad1-388782b1dddd",
                   "kind": "correction", "changes": {"note": "Reworded."}, "reason": "Typo."},
}


def best(parse: Callable[[bytes], Any], raw: bytes, number: int) -> float:
    """Microseconds per parse over one round of ``number`` parses."""
    started = time.thread_time()  # CPU time: a loaded machine descheduling us does not count
    for _ in range(number):
        parse(raw)
    return (time.thread_time() - started) / number * 1e6


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (seconds, not minutes)")
    args = parser.parse_args()
    rounds, number = (15, 5_000) if args.quick else (60, 20_000)
    print(f"{'body':<11}{'bytes':>6}{'json.loads µs':>15}{'jsontext µs':>13}{'extra µs':>10}")
    for name, body in BODIES.items():
        raw = json.dumps(body).encode()
        plain, strict = [], []
        for _ in range(rounds):
            plain.append(best(json.loads, raw, number))
            strict.append(best(jsontext.loads, raw, number))
        a, b = min(plain), min(strict)
        print(f"{name:<11}{len(raw):>6}{a:>15.2f}{b:>13.2f}{b - a:>10.2f}")


if __name__ == "__main__":
    main()
