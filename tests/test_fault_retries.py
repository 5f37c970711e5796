"""Retries and unreadable scopes (DESIGN.md §6, §8.2).

`RetrySettings.retry_total` is the number of retries after the first attempt, whatever failed:
the attempts are counted in the fake ARM's request log. A garbled 2xx body is retried like a
5xx within that budget, and a gap when it stays garbled. A scan that can read none of its
subscriptions is exit 3, whatever the cause.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.core.exceptions import ServiceRequestError
from fakearm import FakeArm
from test_collect_fakearm import NETWORK_SUB
from test_collect_scan import SUB, SUB2, coverage, fake_arm
from test_collect_transport import RecordingCredential, arm_error

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import TOKEN_ENV, make_credential
from asr_audit.access.policies import RetrySettings
from asr_audit.collect import ScanRequest, scan
from asr_audit.errors import EXIT_AUTH, AuthError
from asr_audit.inventory import Inventory


def quick(retries: int) -> RetrySettings:
    return RetrySettings(retry_after_cap=0.01, retry_total=retries, backoff_factor=0.001, backoff_max=0.01)


def scan_live(arm: FakeArm, monkeypatch: pytest.MonkeyPatch, retries: int) -> Inventory:
    monkeypatch.setenv(TOKEN_ENV, "test-token")
    cloud = CLOUDS["AzureCloud"].with_arm_endpoint(arm.url)
    return scan(
        ScanRequest([NETWORK_SUB], cloud, concurrency=4), make_credential(cloud), retry=quick(retries)
    )


def served(arm: FakeArm, suffix: str) -> int:
    return sum(1 for r in arm.requests if r.path.endswith(suffix))


# --- the number of attempts ---------------------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1, 5])
@pytest.mark.parametrize(("status", "expected"), [(503, "error"), (429, "throttled"), (500, "error")])
def test_a_failing_request_is_sent_once_plus_retry_total_times(
    fake_arm: Callable[..., FakeArm],
    monkeypatch: pytest.MonkeyPatch,
    retries: int,
    status: int,
    expected: str,
) -> None:
    """azure-core caps status retries at 3 on its own; 5 used to mean 4 attempts."""
    arm = fake_arm("api-examples", page_size=50)
    arm.add_fault(r"/routeTables$", status, headers={"Retry-After": "0"} if status == 429 else None)
    inventory = scan_live(arm, monkeypatch, retries)
    assert coverage(inventory, "route_tables", NETWORK_SUB).status == expected
    assert served(arm, "/routeTables") == retries + 1


def test_connection_errors_use_the_same_budget() -> None:
    transport = fake_arm()
    transport.add("GET", "routeTables", ServiceRequestError("connection reset"))
    request = ScanRequest([SUB], CLOUDS["AzureCloud"])
    inventory = scan(request, RecordingCredential(), transport=transport, retry=quick(5))
    assert coverage(inventory, "route_tables").status == "error"
    assert len(transport.urls("routeTables")) == 6


# --- garbled bodies --------------------------------------------------------------------------------------

GARBLED = [
    "<html>proxy error</html>",  # not JSON
    '{"value": [{"id": "/subscriptions/',  # cut short
    '[{"id": "x"}]',  # an array, not an object
    '"text"',  # a string
    '{"nextLink": null}',  # a page without its value array
]


@pytest.mark.parametrize("body", GARBLED)
def test_a_garbled_page_is_retried_and_then_read(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    arm = fake_arm("api-examples", page_size=50)
    arm.add_fault(r"/routeTables$", 200, times=2, body=body)
    inventory = scan_live(arm, monkeypatch, 3)
    routes = coverage(inventory, "route_tables", NETWORK_SUB)
    assert (routes.status, routes.detail) == ("ok", None)
    assert len(inventory.route_tables) == 2
    assert served(arm, "/routeTables") == 3


@pytest.mark.parametrize("body", GARBLED)
def test_a_page_that_stays_garbled_is_an_error_after_the_budget(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    arm = fake_arm("api-examples", page_size=50)
    arm.add_fault(r"/routeTables$", 200, body=body)
    inventory = scan_live(arm, monkeypatch, 2)
    routes = coverage(inventory, "route_tables", NETWORK_SUB)
    assert routes.status == "error" and (routes.detail or "").startswith("response ")
    assert inventory.route_tables == []
    assert served(arm, "/routeTables") == 3


def test_garbled_bodies_and_5xx_share_one_budget(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples", page_size=50)
    arm.add_fault(r"/routeTables$", 503, times=2)
    arm.add_fault(r"/routeTables$", 200, body="<html>", times=2)
    inventory = scan_live(arm, monkeypatch, 3)
    assert coverage(inventory, "route_tables", NETWORK_SUB).status == "error"
    assert served(arm, "/routeTables") == 4


def test_a_garbled_single_object_is_retried_too(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples", page_size=50)
    arm.add_fault(rf"/subscriptions/{NETWORK_SUB}$", 200, times=1, body="{")
    inventory = scan_live(arm, monkeypatch, 1)
    assert [s.id for s in inventory.subscriptions] == [NETWORK_SUB]
    assert served(arm, f"/subscriptions/{NETWORK_SUB}") == 2


# --- nothing in scope readable: exit 3 for any cause -------------------------------------------------------


def test_a_connection_failure_on_every_subscription_is_exit_3() -> None:
    transport = fake_arm((SUB, "Prod"), (SUB2, "DR"))
    transport.add("GET", r"/subscriptions/[^/?]+\?", ServiceRequestError("connection refused"))
    request = ScanRequest([SUB, SUB2], CLOUDS["AzureCloud"])
    with pytest.raises(AuthError) as error:
        scan(request, RecordingCredential(), transport=transport, retry=quick(0))
    message = str(error.value)
    assert error.value.exit_code == EXIT_AUTH and "\n" not in message
    assert message.startswith(f"no requested subscription could be read: {SUB}, {SUB2} (")
    assert "ServiceRequestError: connection refused" in message
    assert not transport.urls("/providers/")


def test_mixed_causes_are_each_named_once() -> None:
    transport = fake_arm((SUB, "Prod"), (SUB2, "DR"))
    transport.add("GET", rf"/subscriptions/{SUB}\?", arm_error(500, "InternalServerError", "boom"))
    transport.add("GET", rf"/subscriptions/{SUB2}\?", arm_error(403, "AuthorizationFailed", "no"))
    request = ScanRequest([SUB, SUB2], CLOUDS["AzureCloud"])
    with pytest.raises(AuthError) as error:
        scan(request, RecordingCredential(), transport=transport, retry=quick(0))
    assert "HTTP 403 AuthorizationFailed: no; HTTP 500 InternalServerError: boom" in str(error.value)


def test_one_readable_subscription_is_enough_to_go_on() -> None:
    transport = fake_arm((SUB, "Prod"))
    transport.add("GET", rf"/subscriptions/{SUB2}\?", arm_error(503, "ServiceUnavailable"))
    request = ScanRequest([SUB, SUB2], CLOUDS["AzureCloud"])
    inventory = scan(request, RecordingCredential(), transport=transport, retry=quick(0))
    assert [s.id for s in inventory.subscriptions] == [SUB]
    assert coverage(inventory, "subscription", SUB2).status == "error"
