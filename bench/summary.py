"""One table from every bench's results file: per collector and phase, the whole process beside
the flow inside it, both divided by the phase's floor or rate limit, the target and ok/MISSED.

    make bench            # runs every bench, then this
    .venv/bin/python bench/summary.py [bench/results-*.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common import BENCH, print_rows

ORDER = ["technical", "macro", "prices", "onchain", "features", "news", "faults"]


def files(arguments: list[str]) -> list[Path]:
    if arguments:
        return [Path(a) for a in arguments]
    found = sorted(BENCH.glob("results-*.json"))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda p: rank.get(p.stem.removeprefix("results-"), len(ORDER)))


def main() -> None:
    rows, notes, missed, failed = [], [], 0, 0
    if not sys.argv[1:]:
        notes += [f"results-{n}.json: missing (make bench-{n})" for n in ORDER
                  if not (BENCH / f"results-{n}.json").exists()]  # fmt: skip
    for path in files(sys.argv[1:]):
        results = json.loads(path.read_text())
        if not isinstance(results, dict) or not isinstance(results.get("rows"), list):
            notes.append(f"{path.name}: an older format, not shown (run its bench again)")
            continue
        name = results.get("bench", path.stem.removeprefix("results-"))
        notes.append(f"{path.name}: {name}, measured {results.get('measured_at')}, "
                     f"{len(results['checks_failed'])} failed checks")  # fmt: skip
        failed += len(results["checks_failed"])
        for r in results["rows"]:
            rows.append({"collector": name, **r})
            missed += r.get("ok") is False
    print_rows("all benches (whole process = what users wait for; in flow = the flow run)", rows)
    print(
        "\n÷ basis: the whole process and the flow run divided by the floor (technical: one "
        "LOAD DATA of the same rows), by what the providers' rate limits require (macro, "
        "prices, on-chain) or by the target itself (features)."
    )
    for note in notes:
        print(f"  {note}")
    print(f"\n{missed} targets missed, {failed} correctness checks failed")


if __name__ == "__main__":
    main()
