"""Record the scenario cassettes: the real collector scanning the fake ARM server under vcrpy.

    python tests/record_cassettes.py            # every scenario
    python tests/record_cassettes.py healthy    # some

Writes `cassettes/<scenario>.yaml`, except `broken`, which ships in the package as
`asr_audit/demo/broken-estate.yaml` for `asr-audit demo`. Re-record after changing a
scenario or a collector URL: tests/test_replay.py fails until you do (it compares a live scan's
requests and inventory with the recording's).

vcrpy is used here and in tests only: playback (`asr_audit.app.replay`) reads the cassette
format itself, matching requests as `MATCH_ON` says.

The scan runs with concurrency 1 so the interactions are stored in a stable order, and every
URL is rewritten to `asr_audit.app.replay.RECORDED_ENDPOINT` (the port changes per run): the
same scenario always gives the same file. Scrubbed before saving: the Authorization,
User-Agent and x-ms-client-request-id request headers, the Server response header, and
every tenant id in response bodies. The `Date` response header stays: it is the scenario's fixed
clock (`clock:` in scenario.yaml), and the replayed scan records it as the moment the inventory
shows, so the demo judges ages as of its recording on any day.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import vcr

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))  # `fakearm` when run as a script

from fakearm import FakeArm  # noqa: E402

from asr_audit.access.clouds import CLOUDS  # noqa: E402
from asr_audit.access.credential import StaticTokenCredential  # noqa: E402
from asr_audit.app.replay import DEMO_CASSETTE, RECORDED_ENDPOINT  # noqa: E402
from asr_audit.collect import ScanRequest, scan  # noqa: E402
from asr_audit.inventory import Inventory  # noqa: E402

SCENARIOS_DIR = TESTS_DIR / "scenarios"
CASSETTES_DIR = TESTS_DIR.parent / "cassettes"
SCRUBBED_TENANT = "00000000-0000-0000-0000-000000000000"
_TENANT_ID = re.compile(r'("[A-Za-z]*[tT]enantId"\s*:\s*")[0-9a-fA-F-]{36}(")')
_DROPPED_RESPONSE_HEADERS = {"server"}
MATCH_ON = ("method", "path", "query")  # what replay.RequestKey compares
FILTERED_REQUEST_HEADERS = ("Authorization", "User-Agent", "x-ms-client-request-id")


def make_vcr(record_mode: str, **options: Any) -> vcr.VCR:
    """The one vcrpy configuration recordings are made with."""
    return vcr.VCR(
        record_mode=record_mode,
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_REQUEST_HEADERS),
        decode_compressed_response=True,
        **options,
    )


def cassette_path(scenario: str) -> Path:
    return DEMO_CASSETTE if scenario == "broken" else CASSETTES_DIR / f"{scenario}.yaml"


def scenario_request(arm: FakeArm, endpoint: str, concurrency: int = 1) -> ScanRequest:
    """Every subscription of the scenario, by id and through the subscription list (so replays
    may ask by display name or for all subscriptions), with the scenario's region hint."""
    return ScanRequest(
        subscriptions=[s.id for s in arm.scenario.subscriptions],
        cloud=CLOUDS["AzureCloud"].with_arm_endpoint(endpoint),
        concurrency=concurrency,
        regions=list(arm.scenario.regions),
        all_subscriptions=True,
    )


@contextmanager
def trusting(ca_bundle: str) -> Iterator[None]:
    """The SDK transport takes its CA bundle from the environment (DESIGN.md §3)."""
    saved = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ.update(REQUESTS_CA_BUNDLE=ca_bundle, SSL_CERT_FILE=ca_bundle)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _hooks(live_url: str) -> dict[str, Any]:
    def request_hook(request: Any) -> Any:
        stored = copy.copy(request)  # vcrpy also passes the live request through this hook
        stored.uri = request.uri.replace(live_url, RECORDED_ENDPOINT)
        return stored

    def response_hook(response: dict[str, Any]) -> dict[str, Any]:
        response["headers"] = {
            k: v for k, v in response["headers"].items() if k.lower() not in _DROPPED_RESPONSE_HEADERS
        }
        body = response["body"]["string"]
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        text = _TENANT_ID.sub(rf"\g<1>{SCRUBBED_TENANT}\g<2>", text.replace(live_url, RECORDED_ENDPOINT))
        response["body"]["string"] = text.encode("utf-8")
        if "Content-Length" in response["headers"]:
            response["headers"]["Content-Length"] = [str(len(response["body"]["string"]))]
        return response

    return {"before_record_request": request_hook, "before_record_response": response_hook}


def record(scenario: str, out: Path | None = None) -> Inventory:
    """Scan the scenario on a fresh fake ARM server and store every exchange in `out`."""
    out = out or cassette_path(scenario)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)  # record mode "all" would keep interactions of an older recording
    with FakeArm(SCENARIOS_DIR / scenario) as arm, trusting(arm.ca_bundle):
        recorder = make_vcr("all", **_hooks(arm.url))
        with recorder.use_cassette(str(out)):
            inventory = scan(scenario_request(arm, arm.url), StaticTokenCredential(arm.token))
        writes = [r for r in arm.requests if r.method != "GET"]
    if writes:
        raise SystemExit(f"{scenario}: the scan sent {writes}; refusing to keep the recording")
    return inventory


def main(argv: list[str]) -> int:
    names = argv or sorted(p.name for p in SCENARIOS_DIR.iterdir() if (p / "scenario.yaml").is_file())
    for name in names:
        inventory = record(name)
        gaps = [f"{c.collector}={c.status}" for c in inventory.coverage if c.status != "ok"]
        size = cassette_path(name).stat().st_size
        sys.stderr.write(
            f"{name}: {cassette_path(name)} ({size:,} bytes); coverage gaps: {', '.join(gaps) or 'none'}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
