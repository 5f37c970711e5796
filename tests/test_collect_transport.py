"""The HTTP layer of collection, run through the real azure-core pipeline with a fake transport.

`FakeTransport` (also used by test_collect_scan.py) answers canned responses, records every
request that reached it, and records retry sleeps instead of sleeping.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest
from azure.core.rest._requests_basic import RestRequestsTransportResponse
from urllib3.exceptions import ProtocolError

from asr_audit import __version__
from asr_audit.access.clients import ClientFactory, ca_bundle_from_env
from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import SharedToken
from asr_audit.access.policies import (
    CappedRetryPolicy,
    ReadOnlyViolation,
    RetrySettings,
    unregistered_provider,
)
from asr_audit.collect.reads import BadPayload, HttpFailure, Pages, get_json

ARM = "https://management.azure.com"
SUB = "11111111-2222-4333-8444-555555555555"
FAST = RetrySettings(retry_after_cap=0.1, retry_total=3, backoff_factor=0.01, backoff_max=0.05)


def _encode(body: Any) -> bytes:
    """Bytes as they are, text as UTF-8, anything else as JSON."""
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


class Truncated:
    """An answer whose body breaks off after `keep` bytes, as when a connection drops mid-body."""

    def __init__(self, body: Any, keep: int = 5) -> None:
        self.data = json.dumps(body).encode()
        self.keep = keep

    def stream(self, amt: int, decode_content: bool = True) -> Any:
        yield self.data[: self.keep]
        raise ProtocolError("Connection broken: IncompleteRead(5 bytes read, 20 more expected)")

    def close(self) -> None:
        """Nothing to release."""


Answer = tuple[int, Any, dict[str, str]] | Exception | Truncated


class FakeTransport(HttpTransport):  # type: ignore[type-arg]
    """Routes are (method, url regex, answers); answers are used in order, the last one repeats."""

    def __init__(self, routes: list[tuple[str, str, list[Answer]]] | None = None) -> None:
        self.routes = [(m, re.compile(p, re.IGNORECASE), list(a)) for m, p, a in routes or []]
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.streamed: list[bool] = []  # per request: did the caller ask for a streamed body?
        self.sleeps: list[float] = []

    def add(self, method: str, pattern: str, *answers: Answer) -> None:
        self.routes.insert(0, (method, re.compile(pattern, re.IGNORECASE), list(answers)))

    def urls(self, pattern: str = "") -> list[str]:
        return [u for _, u, _ in self.requests if re.search(pattern, u, re.IGNORECASE)]

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.requests.append((request.method, request.url, dict(request.headers)))
        self.streamed.append(bool(kwargs.get("stream", False)))
        answer: Answer = (404, {"error": {"code": "NoRoute", "message": request.url}}, {})
        for method, pattern, answers in self.routes:
            if method == request.method and pattern.search(request.url):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                break
        if isinstance(answer, Exception):
            raise answer
        raw = requests.Response()
        if isinstance(answer, Truncated):
            status, headers = 200, {}
            raw.raw = answer  # read through requests' own streaming, which raises mid-body
        else:
            status, body, headers = answer
            raw._content = _encode(body)
            raw._content_consumed = True  # type: ignore[attr-defined]
        raw.status_code = status
        raw.headers = requests.structures.CaseInsensitiveDict({"Content-Type": "application/json", **headers})
        raw.reason = "Canned"
        raw.url = request.url
        raw.encoding = "utf-8"
        response = RestRequestsTransportResponse(request=request, internal_response=raw)
        if not kwargs.get("stream", False):
            response.read()  # as RequestsTransport does: policies may read the body
        return response

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)

    def open(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to close."""

    def __exit__(self, *args: Any) -> None:
        """Nothing to release."""


class RecordingCredential:
    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.scopes.append(scopes)
        return AccessToken("fake-token", 4_102_444_800)


def ok(body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    return 200, body, headers or {}


def arm_error(status: int, code: str, message: str = "", headers: dict[str, str] | None = None) -> Answer:
    return status, {"error": {"code": code, "message": message or code}}, headers or {}


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def factory(transport: FakeTransport) -> ClientFactory:
    return ClientFactory(RecordingCredential(), CLOUDS["AzureCloud"], retry=FAST, transport=transport)


# --- read-only guard ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_guard_refuses_writes_before_the_transport(
    factory: ClientFactory, transport: FakeTransport, method: str
) -> None:
    client = factory.client
    url = f"{ARM}/subscriptions/s/providers/Microsoft.Storage/storageAccounts/a/listKeys?api-version=1"
    with pytest.raises(ReadOnlyViolation):
        client.send_request(HttpRequest(method, url))
    assert transport.requests == []
    assert transport.sleeps == []  # refused once, not retried


def test_guard_lets_the_resource_graph_query_through_and_nothing_beside_it(
    factory: ClientFactory, transport: FakeTransport
) -> None:
    """The graph backend's one POST passes (tests/test_graph_backend.py); a POST below or
    beside its path does not, nor any other POST (test_guard_refuses_writes_before_the_transport)."""
    for path in ("/providers/Microsoft.ResourceGraph/resources/x", "/providers/Microsoft.ResourceGraph"):
        with pytest.raises(ReadOnlyViolation):
            factory.client.send_request(HttpRequest("POST", f"{ARM}{path}?api-version=1", json={}))
    assert transport.requests == []


def test_guard_stops_automatic_provider_registration(
    factory: ClientFactory, transport: FakeTransport
) -> None:
    """The SDK answers a 409 MissingSubscriptionRegistration with POST .../register: refused."""
    message = "The subscription is not registered to use namespace 'Microsoft.RecoveryServices'."
    transport.add("GET", "vaults", arm_error(409, "MissingSubscriptionRegistration", message))
    url = f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version=2025-02-01"
    with pytest.raises(ReadOnlyViolation) as refused:
        get_json(factory.client, url)
    assert [m for m, _, _ in transport.requests] == ["GET"]
    assert unregistered_provider(refused.value) == "Microsoft.RecoveryServices"


def test_unregistered_provider_is_none_for_other_refusals() -> None:
    assert unregistered_provider(ReadOnlyViolation("DELETE", f"{ARM}/subscriptions/s/x/register")) is None
    assert unregistered_provider(ReadOnlyViolation("POST", f"{ARM}/subscriptions/s/listKeys")) is None


# --- retry -----------------------------------------------------------------------------------


def test_retry_after_is_capped(factory: ClientFactory, transport: FakeTransport) -> None:
    transport.add("GET", "routeTables", (429, {}, {"Retry-After": "3600"}), ok({"value": []}))
    assert get_json(factory.client, "/subscriptions/s/providers/Microsoft.Network/routeTables") == {
        "value": []
    }
    assert len(transport.urls("routeTables")) == 2
    assert transport.sleeps and max(transport.sleeps) <= FAST.retry_after_cap


def test_default_cap_is_thirty_seconds() -> None:
    assert CappedRetryPolicy().retry_after_cap == 30.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retried(factory: ClientFactory, transport: FakeTransport, status: int) -> None:
    transport.add("GET", "disks", (status, {}, {}), ok({"value": [1]}))
    assert get_json(factory.client, "/subscriptions/s/providers/Microsoft.Compute/disks") == {"value": [1]}
    assert len(transport.urls("disks")) == 2


def test_client_errors_are_not_retried_even_with_retry_after(
    factory: ClientFactory, transport: FakeTransport
) -> None:
    transport.add("GET", "disks", arm_error(403, "AuthorizationFailed", headers={"Retry-After": "1"}))
    with pytest.raises(HttpFailure) as failure:
        get_json(factory.client, "/subscriptions/s/providers/Microsoft.Compute/disks")
    assert failure.value.coverage_status == "forbidden"
    assert len(transport.urls("disks")) == 1


def test_retries_are_bounded(factory: ClientFactory, transport: FakeTransport) -> None:
    transport.add("GET", "disks", arm_error(429, "TooManyRequests", headers={"Retry-After": "5"}))
    with pytest.raises(HttpFailure) as failure:
        get_json(factory.client, "/subscriptions/s/providers/Microsoft.Compute/disks")
    assert failure.value.coverage_status == "throttled"
    assert len(transport.urls("disks")) == FAST.retry_total + 1


def test_connection_errors_are_retried(factory: ClientFactory, transport: FakeTransport) -> None:
    transport.add("GET", "disks", ServiceRequestError("connection reset"), ok({"value": []}))
    assert get_json(factory.client, "/subscriptions/s/providers/Microsoft.Compute/disks") == {"value": []}
    assert len(transport.urls("disks")) == 2


def test_backoff_is_jittered_and_capped() -> None:
    policy = CappedRetryPolicy(retry_backoff_factor=1.0, retry_backoff_max=4)
    settings = {"history": [object()] * 10, "backoff": 1.0, "max_backoff": 4}
    waits = [policy.get_backoff_time(settings) for _ in range(200)]
    assert all(0 <= w <= 4 for w in waits)
    assert len({round(w, 6) for w in waits}) > 100  # jitter, not one fixed delay


def test_unparsable_retry_after_is_ignored(factory: ClientFactory, transport: FakeTransport) -> None:
    transport.add("GET", "disks", (503, {}, {"Retry-After": "soon-ish"}), ok({"value": []}))
    assert get_json(factory.client, "/subscriptions/s/providers/Microsoft.Compute/disks") == {"value": []}
    assert all(s <= FAST.backoff_max for s in transport.sleeps)


# --- clients ---------------------------------------------------------------------------------


def test_one_client_sends_every_provider_s_reads_and_names_the_tool(
    factory: ClientFactory, transport: FakeTransport
) -> None:
    transport.add("GET", "", ok({"value": []}))
    for provider in (
        "Microsoft.Network/routeTables",
        "Microsoft.Compute/disks",
        "Microsoft.Storage/storageAccounts",
    ):
        get_json(factory.client, f"/subscriptions/s/providers/{provider}")
    agents = [headers["User-Agent"] for _, _, headers in transport.requests]
    assert len(agents) == 3
    assert all(a.startswith(f"asr-audit/{__version__} azsdk-python-mgmt-resource/") for a in agents)


def test_clients_use_the_cloud_endpoint_and_scope(transport: FakeTransport) -> None:
    credential = RecordingCredential()
    china = CLOUDS["AzureChinaCloud"]
    factory = ClientFactory(credential, china, retry=FAST, transport=transport)
    transport.add("GET", "", ok({"value": []}))
    get_json(factory.client, "/subscriptions/s/providers/Microsoft.Storage/storageAccounts")
    assert transport.urls()[0].startswith("https://management.chinacloudapi.cn/subscriptions/s/")
    assert credential.scopes == [(china.credential_scope,)]
    assert transport.requests[0][2]["Authorization"] == "Bearer fake-token"


def test_ca_bundle_prefers_requests_then_ssl_cert_file_then_curl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert ca_bundle_from_env() is None
    monkeypatch.setenv("CURL_CA_BUNDLE", "/tmp/curl.pem")
    assert ca_bundle_from_env() == "/tmp/curl.pem"
    monkeypatch.setenv("SSL_CERT_FILE", "/tmp/ssl.pem")
    assert ca_bundle_from_env() == "/tmp/ssl.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/requests.pem")
    assert ca_bundle_from_env() == "/tmp/requests.pem"


def test_default_transport_verifies_with_the_env_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/tmp/custom-ca.pem")
    factory = ClientFactory(RecordingCredential(), CLOUDS["AzureCloud"], pool_size=16)
    transport = factory.client._client._pipeline._transport
    assert transport.connection_config.verify == "/tmp/custom-ca.pem"
    assert transport.session.get_adapter("https://x").poolmanager.connection_pool_kw["maxsize"] == 16
    factory.close()


# --- paging ----------------------------------------------------------------------------------


def _list(factory: ClientFactory, url: str = "/subscriptions/s/providers/Microsoft.Network/virtualNetworks"):
    return Pages(factory.client, url, ARM)


def test_pages_follow_next_link_verbatim(factory: ClientFactory, transport: FakeTransport) -> None:
    second = f"{ARM}/subscriptions/s/providers/Microsoft.Network/virtualNetworks?api-version=1&$skiptoken=2"
    transport.add("GET", r"skiptoken=2", ok({"value": [3]}))
    transport.add("GET", r"virtualNetworks$", ok({"value": [1, 2], "nextLink": second}))
    pager = _list(factory)
    assert [p["value"] for p in pager] == [[1, 2], [3]]
    assert pager.note is None
    assert transport.urls()[1] == second


def test_braces_in_next_link_survive(factory: ClientFactory, transport: FakeTransport) -> None:
    """`send_request` formats URLs like templates; a `{token}` in a nextLink must not cut it."""
    second = f"{ARM}/subscriptions/s/providers/Microsoft.Compute/disks?$skiptoken={{token}}/Disks/d1"
    transport.add("GET", r"skiptoken", ok({"value": [2]}))
    transport.add("GET", r"disks$", ok({"value": [1], "nextLink": second}))
    assert [p["value"] for p in _list(factory, "/subscriptions/s/providers/Microsoft.Compute/disks")] == [
        [1],
        [2],
    ]
    assert transport.urls()[1] == second.replace("{", "%7B").replace("}", "%7D")


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("a", "not an absolute URL"),  # the VM MaximumSet example
        ("/subscriptions/s/next", "not an absolute URL"),
        ("http://disksvchost:99/subscriptions/s/disks?$skiptoken=x", "another host"),  # Disk example
        (42, "not a URL"),
    ],
)
def test_unusable_next_link_ends_paging_with_a_note(
    factory: ClientFactory, transport: FakeTransport, link: Any, why: str
) -> None:
    transport.add("GET", "", ok({"value": [1], "nextLink": link}))
    pager = _list(factory)
    assert [p["value"] for p in pager] == [[1]]
    assert pager.note and why in pager.note
    assert len(transport.requests) == 1


def test_looping_next_link_stops(factory: ClientFactory, transport: FakeTransport) -> None:
    again = f"{ARM}/subscriptions/s/page2"
    transport.add("GET", "", ok({"value": [1], "nextLink": again}))
    pager = _list(factory)
    assert len(list(pager)) == 2
    assert pager.note and "repeats" in pager.note


@pytest.mark.parametrize("body", ["<html>gateway timeout</html>", "[1, 2]", '"text"', "{truncated"])
def test_non_object_body_is_bad_payload(factory: ClientFactory, transport: FakeTransport, body: str) -> None:
    transport.add("GET", "", (200, body, {}))
    with pytest.raises(BadPayload):
        list(_list(factory))


def test_bodies_are_streamed_so_the_sdk_does_not_decode_them_first(
    factory: ClientFactory, transport: FakeTransport
) -> None:
    """The SDK's ContentDecodePolicy decodes only unstreamed bodies; get_json decodes once."""
    transport.add("GET", "", ok({"value": [1]}))
    assert get_json(factory.client, "/subscriptions/s/x") == {"value": [1]}
    assert transport.streamed == [True]


def test_body_cut_short_is_retried(factory: ClientFactory, transport: FakeTransport) -> None:
    """Streaming must not move the body read out of the retry loop."""
    transport.add("GET", "disks", Truncated({"value": [1, 2, 3]}), ok({"value": [1, 2, 3]}))
    assert get_json(factory.client, "/subscriptions/s/providers/Microsoft.Compute/disks") == {
        "value": [1, 2, 3]
    }
    assert len(transport.urls("disks")) == 2


def test_body_cut_short_every_time_is_an_azure_error(
    factory: ClientFactory, transport: FakeTransport
) -> None:
    transport.add("GET", "disks", Truncated({"value": [1, 2, 3]}))
    with pytest.raises(AzureError):
        get_json(factory.client, "/subscriptions/s/providers/Microsoft.Compute/disks")
    assert len(transport.urls("disks")) == FAST.retry_total + 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_json_bytes_in_any_json_encoding_decode(
    factory: ClientFactory, transport: FakeTransport, encoding: str
) -> None:
    transport.add("GET", "", (200, json.dumps({"name": "réseau"}).encode(encoding), {}))
    assert get_json(factory.client, "/subscriptions/s/x") == {"name": "réseau"}


def test_body_that_is_not_utf8_is_bad_payload(factory: ClientFactory, transport: FakeTransport) -> None:
    transport.add("GET", "", (200, b'{"name": "\xff\xfe"}', {}))
    with pytest.raises(BadPayload):
        get_json(factory.client, "/subscriptions/s/x")


def test_http_failure_detail_is_one_line_from_arm_error(
    factory: ClientFactory, transport: FakeTransport
) -> None:
    transport.add(
        "GET", "", arm_error(404, "ResourceGroupNotFound", "Resource group 'rg'\ncould not be found.")
    )
    with pytest.raises(HttpFailure) as failure:
        list(_list(factory))
    assert failure.value.coverage_status == "not_found"
    assert failure.value.detail == "HTTP 404 ResourceGroupNotFound: Resource group 'rg' could not be found."


def test_every_read_shares_one_token(transport: FakeTransport) -> None:
    credential = RecordingCredential()
    factory = ClientFactory(credential, CLOUDS["AzureCloud"], retry=FAST, transport=transport)
    transport.add("GET", "", ok({"value": []}))
    for path in ("/subscriptions/s/x", "/subscriptions/s/y", "/subscriptions/t/x", "/subscriptions/t/y"):
        get_json(factory.client, path)
    assert len(credential.scopes) == 1
    assert len(transport.requests) == 4


def test_shared_token_is_refreshed_near_expiry_and_on_claims() -> None:
    class Expiring:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            self.calls.append(kwargs)
            return AccessToken(f"t{len(self.calls)}", int(time.time()) + 60)  # inside the margin

    inner = Expiring()
    shared = SharedToken(inner, refresh_margin=300)
    assert shared.get_token("s").token == "t1"
    assert shared.get_token("s").token == "t2"  # too close to expiry to reuse
    relaxed = SharedToken(inner, refresh_margin=10)
    assert relaxed.get_token("s").token == relaxed.get_token("s").token == "t3"
    assert relaxed.get_token("s", claims='{"access_token": {}}').token == "t4"


def test_the_token_is_fetched_while_the_clients_are_built(transport: FakeTransport) -> None:
    """The fetch starts before the SDKs import and does not hold them up; the first request
    waits for it and uses its token, and nothing asks the credential again."""
    asked, release = threading.Event(), threading.Event()

    class Slow(RecordingCredential):
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            asked.set()
            release.wait(10)
            return super().get_token(*scopes, **kwargs)

    credential = Slow()
    factory = ClientFactory(credential, CLOUDS["AzureCloud"], retry=FAST, transport=transport)
    assert asked.wait(5) and not release.is_set()  # built while the fetch was still waiting
    transport.add("GET", "", ok({"value": []}))
    threading.Timer(0.2, release.set).start()
    get_json(factory.client, "/subscriptions/s/x")
    get_json(factory.client, "/subscriptions/s/x")
    assert credential.scopes == [(CLOUDS["AzureCloud"].credential_scope,)]
    assert transport.requests[0][2]["Authorization"] == "Bearer fake-token"


def test_what_the_token_fetch_raised_is_raised_by_the_first_request_once(transport: FakeTransport) -> None:
    class FailsFirst(RecordingCredential):
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            super().get_token(*scopes, **kwargs)
            if len(self.scopes) == 1:
                raise ClientAuthenticationError("not logged in")
            return AccessToken("fake-token", 4_102_444_800)

    credential = FailsFirst()
    factory = ClientFactory(credential, CLOUDS["AzureCloud"], retry=FAST, transport=transport)
    transport.add("GET", "", ok({"value": []}))
    with pytest.raises(ClientAuthenticationError, match="not logged in"):
        get_json(factory.client, "/subscriptions/s/x")
    assert len(credential.scopes) == 1 and transport.requests == []
    get_json(factory.client, "/subscriptions/s/x")  # a later ask fetches afresh
    assert len(credential.scopes) == 2 and len(transport.requests) == 1
