"""Measure how long a scan with the default time limits takes when one ARM list stalls.

The acceptance figure of DESIGN.md §8.2's timeouts: "a run with a 900 s stall on one list ends in
under 150 s with that list as a gap". The scan is the real `scan()` with the default
`ScanRequest` (connect 10 s, read 30 s, deadline 30 min) and the default retry settings, against
`tests/fakearm` serving the `healthy` scenario, one list of which answers only after `--stall`
seconds. Not part of the test suite (tests/test_fault_time.py checks the same, scaled down);
it takes about 1.5 minutes. Usage:

    python -m bench.stall_run [--stall 900] [--path '/providers/Microsoft\\.Network/routeTables$']

Prints the wall time, the stalled list's coverage and how often it was requested; the exit
status is 1 when the run took 150 s or more, or the list is not a `timeout` gap.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "tests" / "scenarios" / "healthy"
SUBSCRIPTION = "3c9d2e71-5b4a-4f86-a0d3-7e1b9c6f2a58"  # the healthy scenario's
ACCEPTANCE_SECONDS = 150.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stall", type=float, default=900.0, help="seconds the list stalls (900)")
    parser.add_argument(
        "--path",
        default=r"/providers/Microsoft\.Network/routeTables$",
        help="regex of the stalled list's path (default: the route tables list)",
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO / "tests"))
    from fakearm import FakeArm

    from asr_audit.access.clouds import CLOUDS
    from asr_audit.access.credential import StaticTokenCredential
    from asr_audit.collect import ScanRequest, scan

    with FakeArm(SCENARIO) as arm:
        arm.add_stall(args.path, args.stall)
        os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = arm.ca_bundle
        request = ScanRequest([SUBSCRIPTION], CLOUDS["AzureCloud"].with_arm_endpoint(arm.url))
        started = time.monotonic()
        inventory = scan(request, StaticTokenCredential(arm.token))
        wall = time.monotonic() - started
        attempts = sum(1 for r in arm.requests if re.search(args.path, r.path, re.IGNORECASE))

    (connect, read), deadline = request.timeout, request.deadline
    print(f"settings: connect {connect:g} s, read {read:g} s, deadline {deadline} s, default retries")
    print(f"stall: {args.stall:g} s on {args.path}")
    print(f"wall time: {wall:.1f} s (acceptance: under {ACCEPTANCE_SECONDS:g} s)")
    print(f"requests to the stalled list: {attempts}")
    gap_statuses = []
    for c in inventory.coverage:
        if c.status != "ok":
            print(f"gap: {c.collector}: {c.status}: {c.detail}")
            gap_statuses.append(c.status)
    passed = wall < ACCEPTANCE_SECONDS and gap_statuses == ["timeout"]
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
