"""Offline scans: the real collectors run against a recording of ARM.

`asr-audit demo` and the cassette tests use this. The scan goes through the same SDK
pipeline, paging, retry and parsing as a live one; only the transport at the bottom of the
pipeline differs: `RecordedTransport` answers from the recording instead of the network. It
never opens a socket, and a request the recording does not hold gets an ARM 404
(`NotInRecording`), which the collectors turn into coverage like any other 404.

A recording is a vcrpy cassette (tests/record_cassettes.py makes them), read here as plain
YAML so that playback needs neither vcrpy nor its patching of HTTP libraries: vcrpy is a
test tool, and the demo must run from a wheel installed without it. Requests are matched as
the recordings were made to be matched: on method, path and query, never on host or port.
Every recorded URL is rewritten to `RECORDED_ENDPOINT`, so a re-recording is byte-stable and
nextLinks in recorded bodies point where the replay sends its requests.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import requests
import yaml
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest

# The response type azure-core's own RequestsTransport returns; it has no public name.
from azure.core.rest._requests_basic import RestRequestsTransportResponse
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, requote_uri

from asr_audit.errors import UsageError

if TYPE_CHECKING:
    from asr_audit.collect import ScanRequest
    from asr_audit.inventory import Inventory

RECORDED_ENDPOINT = "https://arm.fakearm.invalid"  # .invalid never resolves, so nothing can leak out
REPLAY_TOKEN = "replay-token"  # pipelines need a bearer token; the recording ignores it

# The bundled recording of the `broken` scenario (tests/scenarios/broken), played by `asr-audit demo`.
DEMO_CASSETTE = Path(str(resources.files("asr_audit") / "demo" / "broken-estate.yaml"))

# Thresholds the demo stages, as it stages its 403: ASR-DISK-LIMIT fires past 90 % of 3,000
# protected disks in a subscription, and a recording of 2,700 disks in ARM's shape would add
# ~1.9 MB to the package; the demo's 107 disks cross 3 % instead. `--config` overrides it.
DEMO_THRESHOLDS: dict[str, object] = {"protected_disks_warning_percent": 3}

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml reads the 700 kB demo 10x faster
_SERVICE_TAGS_PATH = re.compile(r"/locations/([^/]+)/serviceTags$", re.IGNORECASE)


class RequestKey(NamedTuple):
    """What identifies a request in a recording: vcrpy's `method`, `path` and `query` matchers."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, method: str, url: str) -> RequestKey:
        # requests re-quotes a URL before sending it, and the recording holds what was sent.
        parts = urlsplit(requote_uri(url))
        return cls(method.upper(), parts.path, tuple(sorted(parse_qsl(parts.query))))


@dataclasses.dataclass(frozen=True)
class RecordedResponse:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass(frozen=True)
class Recording:
    """The interactions of one cassette, in recorded order."""

    name: str
    urls: list[str]  # every recorded request URL, in order
    answers: dict[RequestKey, list[RecordedResponse]]

    @classmethod
    def load(cls, path: Path) -> Recording:
        """Read a cassette; a missing, malformed or empty one is a `UsageError` naming it."""
        if not path.is_file():
            raise UsageError(f"recording {path} not found")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
            recording = cls.parse(path.name, data["interactions"])
        except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(f"{path} is not a vcrpy recording ({first_line})") from None
        if not recording.urls:
            raise UsageError(f"{path} is not a vcrpy recording with interactions")
        return recording

    @classmethod
    def parse(cls, name: str, interactions: Iterable[dict[str, Any]]) -> Recording:
        """Interactions in vcrpy's cassette format; a wrong shape raises KeyError or TypeError."""
        urls: list[str] = []
        answers: dict[RequestKey, list[RecordedResponse]] = {}
        for interaction in interactions:
            request, response = interaction["request"], interaction["response"]
            urls.append(request["uri"])
            answers.setdefault(RequestKey.of(request["method"], request["uri"]), []).append(
                RecordedResponse(
                    status=int(response["status"]["code"]),
                    reason=str(response["status"].get("message") or ""),
                    headers={k: ", ".join(map(str, v)) for k, v in (response.get("headers") or {}).items()},
                    body=_bytes(response["body"]["string"]),
                )
            )
        return cls(name, urls, answers)

    @property
    def endpoint(self) -> str:
        """The ARM endpoint the recording's requests went to (`RECORDED_ENDPOINT` for ours)."""
        first = urlsplit(self.urls[0])
        return f"{first.scheme}://{first.netloc}"

    def service_tag_locations(self) -> list[str]:
        """The location the recorded scan asked for service tags in (at most one)."""
        found = (_SERVICE_TAGS_PATH.search(urlsplit(url).path) for url in self.urls)
        return [m.group(1) for m in found if m][:1]


def _bytes(body: str | bytes | None) -> bytes:
    if body is None:
        return b""
    return body if isinstance(body, bytes) else body.encode("utf-8")


def _not_in_recording(name: str, key: RequestKey) -> RecordedResponse:
    message = f"The recording {name} holds no response for {key.method} {key.path}."
    body = {"error": {"code": "NotInRecording", "message": message}}
    return RecordedResponse(
        404, "Not Found", {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()
    )


class RecordedTransport(HttpTransport[HttpRequest, RestRequestsTransportResponse]):
    """An azure-core transport that serves each request its recorded answers in order, then
    the last one again.

    Order matters: a recorded 429 followed by its successful retry must answer the retry with
    the 200, not the 429 forever. Collectors run on many threads, hence the lock. The
    responses are of the type a live scan's `RequestsTransport` returns, so everything above
    the transport runs as it would against ARM.
    """

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.sent: list[RequestKey] = []  # every request, in the order it arrived
        self._served: Counter[RequestKey] = Counter()
        self._lock = threading.Lock()

    def send(self, request: HttpRequest, **kwargs: Any) -> RestRequestsTransportResponse:
        key = RequestKey.of(request.method, request.url)
        answers = self.recording.answers.get(key)
        with self._lock:
            count = self._served[key]
            self._served[key] += 1
            self.sent.append(key)
        if answers:
            answer = answers[min(count, len(answers) - 1)]
        else:
            answer = _not_in_recording(self.recording.name, key)
        return _response(request, answer, stream=bool(kwargs.get("stream")))

    def open(self) -> None:
        """Nothing to open: no connection is ever made."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> RecordedTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        """Nothing to release."""


def _response(
    request: HttpRequest, answer: RecordedResponse, *, stream: bool
) -> RestRequestsTransportResponse:
    """`answer` as the azure-core response `RequestsTransport` would have built from the wire."""
    raw = requests.Response()
    raw.status_code = answer.status
    raw.reason = answer.reason
    raw.headers = CaseInsensitiveDict(answer.headers)
    raw.encoding = get_encoding_from_headers(raw.headers)
    raw.url = request.url
    raw._content = answer.body
    raw._content_consumed = True  # type: ignore[attr-defined]  # requests' flag: the body is in memory
    response = RestRequestsTransportResponse(request=request, internal_response=raw)
    if not stream:
        response.read()  # as RequestsTransport does: policies may read the body
    return response


def replay_scan(cassette: Path, request: ScanRequest) -> Inventory:
    """Run `scan(request)` against the recording in `cassette` instead of ARM.

    The ARM endpoint is the recording's. With no subscriptions requested, every recorded
    subscription is scanned; with no region hint, the one the recording used (a service-tags
    location other than the recorded one is not in the recording). Raises `UsageError` for a
    missing or malformed recording, and whatever `scan()` raises (e.g. `AuthError` for a
    subscription the recording never saw).
    """
    return scan_recording(RecordedTransport(Recording.load(Path(cassette))), request)


def scan_recording(transport: RecordedTransport, request: ScanRequest) -> Inventory:
    """`replay_scan` on a transport the caller keeps, to see what the scan sent (`transport.sent`)."""
    from asr_audit.access.credential import StaticTokenCredential
    from asr_audit.collect import scan

    recording = transport.recording
    request = dataclasses.replace(
        request,
        cloud=request.cloud.with_arm_endpoint(recording.endpoint),
        regions=request.regions or recording.service_tag_locations(),
        all_subscriptions=request.all_subscriptions
        or not (request.subscriptions or request.management_groups),
    )
    return scan(request, StaticTokenCredential(REPLAY_TOKEN), transport=transport)
