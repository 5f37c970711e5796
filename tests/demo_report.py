"""The demo estate (`asr-audit demo`) as a `Report`: the main fixture of the report tests.

Replaying the bundled recording takes a couple of seconds, so each test process does it once;
callers must not change what they get back (`copy.deepcopy` it first).
"""

from __future__ import annotations

from functools import lru_cache

from asr_audit.access.clouds import CLOUDS
from asr_audit.app import replay, runner
from asr_audit.collect import ScanRequest
from asr_audit.inventory import Inventory
from asr_audit.report import Report

CONNECTIVITY = "5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d"  # "Fabrikam Connectivity": hubs and circuits
PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"  # "Fabrikam Prod": workloads, vaults, caches


@lru_cache(maxsize=1)
def demo_inventory() -> Inventory:
    request = ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"])
    return replay.replay_scan(replay.DEMO_CASSETTE, request)


@lru_cache(maxsize=1)
def demo_report() -> Report:
    """As `asr-audit demo` analyses it, with the thresholds it stages."""
    return runner.audit(
        demo_inventory(),
        cloud=CLOUDS["AzureCloud"],
        started_at="2026-01-02T03:04:05Z",
        thresholds=dict(replay.DEMO_THRESHOLDS),
    )
