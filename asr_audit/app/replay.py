"""Offline scans: the real collectors run against a vcrpy recording of ARM.

`asr-audit demo` and the cassette tests use this. The scan goes through the same SDK
pipeline, paging, retry and parsing as a live one; only the HTTP exchange comes from the
recording. Playback never opens a socket: a request the recording does not hold gets an ARM
404 (`NotInRecording`), which the collectors turn into coverage like any other 404.

Recordings (tests/record_cassettes.py) match on method, path and query, never on host or
port, and every recorded URL is rewritten to `RECORDED_ENDPOINT`, so a re-recording is
byte-stable and nextLinks in recorded bodies point where the replay sends its requests.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from asr_audit.errors import UsageError

if TYPE_CHECKING:
    import vcr
    from vcr.cassette import Cassette

    from asr_audit.collect import ScanRequest
    from asr_audit.inventory import Inventory

MATCH_ON = ("method", "path", "query")
FILTERED_REQUEST_HEADERS = ("Authorization", "User-Agent", "x-ms-client-request-id")
RECORDED_ENDPOINT = "https://arm.fakearm.invalid"  # .invalid never resolves, so nothing can leak out
REPLAY_TOKEN = "replay-token"  # pipelines need a bearer token; the recording ignores it

# The bundled recording of the `broken` scenario (tests/scenarios/broken), played by `asr-audit demo`.
DEMO_CASSETTE = Path(str(resources.files("asr_audit").joinpath("demo", "broken-estate.yaml")))

_SERVICE_TAGS_PATH = re.compile(r"/locations/([^/]+)/serviceTags$", re.IGNORECASE)


def make_vcr(record_mode: str, **options: Any) -> vcr.VCR:
    """The one vcrpy configuration recordings are made and played with."""
    import vcr

    return vcr.VCR(
        record_mode=record_mode,
        match_on=MATCH_ON,
        filter_headers=list(FILTERED_REQUEST_HEADERS),
        decode_compressed_response=True,
        **options,
    )


def replay_scan(cassette: Path, request: ScanRequest) -> Inventory:
    """Run `scan(request)` against the recording in `cassette` instead of ARM.

    The ARM endpoint is the recording's. With no subscriptions requested, every recorded
    subscription is scanned; with no region hint, the one the recording used. Raises
    `UsageError` for a missing or empty recording, and whatever `scan()` raises (e.g.
    `AuthError` for a subscription the recording never saw).
    """
    from asr_audit.access.credential import StaticTokenCredential
    from asr_audit.collect import scan

    path = Path(cassette)
    if not path.is_file():
        raise UsageError(f"recording {path} not found")
    with ExitStack() as stack:
        tape = _open(stack, path)
        _play_in_order(tape, path.name)
        recorded = [urlsplit(r.uri) for r in tape.requests]
        request = dataclasses.replace(
            request,
            cloud=request.cloud.with_arm_endpoint(f"{recorded[0].scheme}://{recorded[0].netloc}"),
            regions=request.regions or _recorded_service_tag_locations(recorded),
            all_subscriptions=request.all_subscriptions
            or not (request.subscriptions or request.management_groups),
        )
        return scan(request, StaticTokenCredential(REPLAY_TOKEN), transport=_offline_transport())


def _open(stack: ExitStack, path: Path) -> Cassette:
    """Load the recording (vcrpy patches HTTP until `stack` closes); bad files are usage errors."""
    import yaml

    try:
        tape = stack.enter_context(make_vcr("none").use_cassette(str(path)))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"{path} is not a vcrpy recording ({first_line})") from None
    if not len(tape):
        raise UsageError(f"{path} is not a vcrpy recording with interactions")
    return tape


def _recorded_service_tag_locations(recorded: list[Any]) -> list[str]:
    return [m.group(1) for m in (_SERVICE_TAGS_PATH.search(u.path) for u in recorded) if m][:1]


def _offline_transport() -> Any:
    """No TLS happens in playback: ignore the environment's CA bundle and proxies."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    session.trust_env = False
    return RequestsTransport(session=session, session_owner=True, connection_verify=True)


def _play_in_order(tape: Cassette, name: str) -> None:
    """Make playback thread-safe and faithful to the recording.

    vcrpy with `allow_playback_repeats` always answers the first matching interaction, so a
    recorded 429 followed by its successful retry would answer 429 forever. Here each request
    gets its recorded answers in order, then the last one again; a request the recording
    lacks gets an ARM 404 instead of an exception inside the SDK.
    """
    from vcr.errors import UnhandledHTTPRequestError

    lock = threading.Lock()
    served: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
    responses_of = tape.responses_of

    def play_response(request: Any) -> dict[str, Any]:
        try:
            answers = responses_of(request)
        except UnhandledHTTPRequestError:
            return _not_in_recording(request, name)
        key = (request.method, request.path, tuple(request.query))
        with lock:
            count = served.get(key, 0)
            served[key] = count + 1
        return answers[min(count, len(answers) - 1)]

    tape.play_response = play_response  # type: ignore[method-assign]
    tape.can_play_response_for = lambda request: True  # type: ignore[method-assign]


def _not_in_recording(request: Any, name: str) -> dict[str, Any]:
    body = {
        "error": {
            "code": "NotInRecording",
            "message": f"The recording {name} holds no response for {request.method} {request.path}.",
        }
    }
    return {
        "status": {"code": 404, "message": "Not Found"},
        "headers": {"Content-Type": ["application/json; charset=utf-8"]},
        "body": {"string": json.dumps(body).encode("utf-8")},
    }
