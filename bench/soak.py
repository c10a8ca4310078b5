"""Run the sync's state machine (tests/sync/test_invariants_machine.py) for N minutes.

    .venv/bin/python bench/soak.py --minutes 30 [--steps 25] [--examples 10]

Runs pytest on the machine's test with its soak settings: a fresh Rally sandbox and a
throwaway test database (pytest's, as in `make test`), fresh random sequences (not the fixed
seed of `make test`) until the time is up, `--examples` sequences of up to `--steps` steps a
round. Prints the sequences (examples) and steps run, and each violation found with its
shrunk sequence of steps; exits non-zero when there was one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/sync/test_invariants_machine.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=25, help="steps per sequence at most")
    parser.add_argument("--examples", type=int, default=10, help="sequences per round")
    args = parser.parse_args()

    report = Path(tempfile.mkdtemp(prefix="soak-")) / "report.json"
    env = {
        **os.environ,
        "AHARALLY_TESTING": "true",
        "SYNC_MACHINE_MINUTES": str(args.minutes),
        "SYNC_MACHINE_STEPS": str(args.steps),
        "SYNC_MACHINE_EXAMPLES": str(args.examples),
        "SYNC_MACHINE_REPORT": str(report),
    }
    started = time.monotonic()
    print(f"Soaking the sync's state machine for {args.minutes:g} min …", flush=True)
    log = report.with_name("pytest.log")
    with log.open("w") as out:
        finished = subprocess.run(
            [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "-s"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    elapsed = time.monotonic() - started
    if not report.exists():
        print(f"The machine did not run (pytest exited {finished.returncode}); see {log}")
        return finished.returncode or 1
    figures = json.loads(report.read_text())
    violations = figures["violations"]
    print(
        f"{elapsed / 60:.1f} min: {figures['rounds']} rounds, {figures['examples']} sequences "
        f"(examples) run, {figures['steps']} steps run, {len(violations)} violation(s)."
    )
    if figures.get("discussion_changes"):
        print(f"Comments and posts edited or deleted: {figures['discussion_changes']}")
    for number, violation in enumerate(violations, 1):
        print(f"\n--- violation {number} ---\n{violation['error']}\n")
        print(violation["sequence"] or "(no sequence recorded)")
        for seen in violation.get("seen", []):
            print(f"as it first failed: {seen}")
    print(f"\npytest's output: {log}")
    return 1 if violations or finished.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
