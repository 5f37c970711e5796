"""`scan()` end to end through the real SDK clients, on a fake azure-core transport.

Every list answers an empty page unless a test says otherwise, so each test states only the
responses its behaviour depends on.
"""

from __future__ import annotations

import gc
import re
import threading
from typing import Any

import azure.identity
import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from test_collect_transport import FAST, FakeTransport, RecordingCredential, arm_error, ok

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import TOKEN_ENV, StaticTokenCredential, make_credential
from asr_audit.collect import SCAN_GC_THRESHOLD, ScanRequest, endpoints, scan
from asr_audit.errors import AuthError, UsageError
from asr_audit.inventory import PER_OBJECT_COLLECTORS, SUBSCRIPTION_COLLECTORS, Inventory

SUB = "11111111-2222-4333-8444-000000000001"
SUB2 = "11111111-2222-4333-8444-000000000002"
ARM = "https://management.azure.com"
VAULT = f"/subscriptions/{SUB}/resourceGroups/rg-asr/providers/Microsoft.RecoveryServices/vaults/rsv1"


def subscription_body(sid: str, name: str) -> dict[str, Any]:
    return {"id": f"/subscriptions/{sid}", "subscriptionId": sid, "displayName": name, "state": "Enabled"}


def vnet(name: str, location: str = "westeurope", sub: str = SUB) -> dict[str, Any]:
    rid = f"/subscriptions/{sub}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/{name}"
    return {
        "id": rid,
        "name": name,
        "location": location,
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
            "subnets": [
                {"id": f"{rid}/subnets/app", "name": "app", "properties": {"addressPrefix": "10.1.1.0/24"}}
            ],
        },
    }


def fake_arm(*subscriptions: tuple[str, str]) -> FakeTransport:
    """Subscriptions readable by GET; every other GET is an empty list."""
    transport = FakeTransport([("GET", r"/providers/|/resources\?|/replication", [ok({"value": []})])])
    subs = subscriptions or ((SUB, "Prod"),)
    for sid, name in subs:
        transport.add("GET", rf"/subscriptions/{sid}\?", ok(subscription_body(sid, name)))
    transport.add("GET", r"/subscriptions\?", ok({"value": [subscription_body(s, n) for s, n in subs]}))
    return transport


def run(transport: FakeTransport, *subs: str, credential: Any = None, **kwargs: Any) -> Inventory:
    request = ScanRequest(list(subs or [SUB]), CLOUDS["AzureCloud"], **kwargs)
    return scan(request, credential or RecordingCredential(), transport=transport, retry=FAST)


def coverage(inventory: Inventory, collector: str, sub: str = SUB) -> Any:
    (hit,) = [c for c in inventory.coverage if c.collector == collector and c.subscription_id == sub]
    return hit


# --- outcomes per collector ---------------------------------------------------------------------


def test_forbidden_collector_is_covered_and_the_rest_is_collected() -> None:
    transport = fake_arm()
    transport.add("GET", "storageAccounts", arm_error(403, "AuthorizationFailed", "no read on storage"))
    transport.add("GET", r"virtualNetworks\?", ok({"value": [vnet("hub")]}))
    inventory = run(transport)
    storage = coverage(inventory, "storage_accounts")
    assert (storage.status, storage.items) == ("forbidden", 0)
    assert "no read on storage" in (storage.detail or "")
    assert [v.name for v in inventory.virtual_networks] == ["hub"]
    assert coverage(inventory, "virtual_networks").status == "ok"
    assert coverage(inventory, "virtual_networks").items == 1


def test_throttled_then_ok_is_retried() -> None:
    transport = fake_arm()
    transport.add(
        "GET",
        r"virtualNetworks\?",
        arm_error(429, "TooManyRequests", headers={"Retry-After": "60"}),
        ok({"value": [vnet("hub")]}),
    )
    inventory = run(transport)
    assert coverage(inventory, "virtual_networks").status == "ok"
    assert len(inventory.virtual_networks) == 1
    assert len(transport.urls(r"virtualNetworks\?")) == 2


def test_throttled_past_retries_is_throttled() -> None:
    transport = fake_arm()
    transport.add("GET", "routeTables", arm_error(429, "TooManyRequests", headers={"Retry-After": "1"}))
    assert coverage(run(transport), "route_tables").status == "throttled"


def test_garbled_json_is_an_error() -> None:
    transport = fake_arm()
    transport.add("GET", "networkSecurityGroups", (200, '{"value": [{"id": ', {}))
    transport.add("GET", "expressRouteCircuits", ok({"values": []}))  # wrong shape
    inventory = run(transport)
    assert coverage(inventory, "network_security_groups").status == "error"
    circuits = coverage(inventory, "express_route_circuits")
    assert circuits.status == "error" and "'value'" in (circuits.detail or "")


def test_failure_on_a_later_page_keeps_the_earlier_items() -> None:
    transport = fake_arm()
    page2 = (
        f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks?api-version=x&$skiptoken=1"
    )
    transport.add("GET", r"virtualNetworks\?api", ok({"value": [vnet("a"), vnet("b")], "nextLink": page2}))
    transport.add("GET", "skiptoken=1", arm_error(500, "InternalServerError"))  # checked first
    inventory = run(transport)
    vnets = coverage(inventory, "virtual_networks")
    assert (vnets.status, vnets.items) == ("error", 2)
    assert sorted(v.name for v in inventory.virtual_networks) == ["a", "b"]


def test_junk_next_link_keeps_items_and_flags_incomplete() -> None:
    """The VM MaximumSet example ends with `"nextLink": "a"`."""
    vm = {"id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"}
    transport = fake_arm()
    transport.add("GET", "virtualMachines", ok({"value": [vm, "junk", {"name": "no id"}], "nextLink": "a"}))
    inventory = run(transport)
    vms = coverage(inventory, "virtual_machines")
    assert vms.status == "error"
    assert vms.items == 1 and "not an absolute URL" in (vms.detail or "")
    assert "2 item(s) could not be read" in (vms.detail or "")
    assert vms.unread == ["page 1 item 2", "page 1 item 3"]
    assert [v.name for v in inventory.virtual_machines] == ["vm1"]


def test_unregistered_provider_means_none_and_nothing_is_registered() -> None:
    transport = fake_arm()
    message = "The subscription is not registered to use namespace 'Microsoft.RecoveryServices'."
    transport.add(
        "GET", r"RecoveryServices/vaults\?", arm_error(409, "MissingSubscriptionRegistration", message)
    )
    inventory = run(transport)
    vaults = coverage(inventory, "vaults")
    assert vaults.status == "ok"
    assert "Microsoft.RecoveryServices is not registered" in (vaults.detail or "")
    assert {m for m, _, _ in transport.requests} == {"GET"}


def test_scan_stamps_cloud_and_time_and_uses_the_cloud_endpoint() -> None:
    transport = fake_arm()
    inventory = scan(
        ScanRequest([SUB], CLOUDS["AzureUSGovernment"]), RecordingCredential(), transport=transport
    )
    assert inventory.cloud == "AzureUSGovernment"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", inventory.collected_at or "")
    assert {u.split("/subscriptions/")[0] for u in transport.urls()} == {
        "https://management.usgovcloudapi.net"
    }


def test_progress_reports_every_step() -> None:
    seen: list[tuple[str, str, str]] = []
    request = ScanRequest([SUB], CLOUDS["AzureCloud"])
    inventory = scan(
        request, RecordingCredential(), lambda *step: seen.append(step), transport=fake_arm(), retry=FAST
    )
    assert sorted(seen) == sorted((c.subscription_id, c.collector, c.status) for c in inventory.coverage)
    assert (SUB, "subscription", "ok") in seen
    assert {"vaults", "virtual_networks", "disks", "gateway_resource_groups"} <= {c for _, c, _ in seen}


# --- running the scan ----------------------------------------------------------------------------


class Watched(FakeTransport):
    """Also notes, per request, the sending thread and the GC thresholds in force."""

    def __init__(self, base: FakeTransport) -> None:
        super().__init__()
        self.routes = base.routes
        self.threads: set[str] = set()
        self.thresholds: set[tuple[int, int, int]] = set()

    def send(self, request: Any, **kwargs: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        self.thresholds.add(gc.get_threshold())
        return super().send(request, **kwargs)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_bounds_the_threads_sending_requests(concurrency: int) -> None:
    transport = Watched(fake_arm((SUB, "Prod"), (SUB2, "DR")))
    run(transport, SUB, SUB2, concurrency=concurrency)
    assert len(transport.requests) > 20
    assert 1 <= len(transport.threads) <= concurrency


def test_a_finished_scan_leaves_no_worker_alive() -> None:
    """The analysis after it forks only when the process has one thread (rules/parallel.py).
    Threads alive before (another test's worker left behind at its deadline) do not count."""
    before = set(threading.enumerate())
    run(fake_arm((SUB, "Prod"), (SUB2, "DR")), SUB, SUB2, concurrency=8)
    assert [t.name for t in set(threading.enumerate()) - before if t.name.startswith("asr-audit")] == []


def test_gc_runs_less_often_during_a_scan_and_as_before_after_it() -> None:
    before = gc.get_threshold()
    transport = Watched(fake_arm())
    run(transport)
    assert transport.thresholds == {(SCAN_GC_THRESHOLD, *before[1:])}
    assert gc.get_threshold() == before


def test_what_a_scan_built_is_left_in_the_oldest_generation() -> None:
    """Else the first young collection after the scan walks the whole inventory for nothing."""
    inventory = run(fake_arm())
    built = [inventory.coverage, inventory.subscriptions, *inventory.coverage]
    assert len(built) > 2
    for generation, expected in ((0, False), (1, False), (2, True)):
        held = {id(o) for o in gc.get_objects(generation=generation)}
        assert [id(o) in held for o in built] == [expected] * len(built), generation


def test_gc_thresholds_are_restored_when_the_scan_fails() -> None:
    before = gc.get_threshold()
    transport = fake_arm()
    transport.add("GET", rf"/subscriptions/{SUB}\?", arm_error(401, "InvalidAuthenticationToken"))
    with pytest.raises(AuthError):
        run(transport)
    assert gc.get_threshold() == before


# --- vaults and ASR objects ----------------------------------------------------------------------


def test_vault_details_come_from_the_vault_get() -> None:
    listed = {
        "id": VAULT,
        "name": "rsv1",
        "location": "westeurope",
        "properties": {"provisioningState": "Succeeded"},
    }
    full = dict(
        listed,
        properties={"publicNetworkAccess": "Disabled", "privateEndpointStateForSiteRecovery": "Enabled"},
    )
    item_id = (
        VAULT.replace("/subscriptions/", "/Subscriptions/")
        + "/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/vm1"
    )
    item = {"id": item_id, "name": "vm1", "properties": {"providerSpecificDetails": {"instanceType": "A2A"}}}
    transport = fake_arm()
    transport.add("GET", r"RecoveryServices/vaults\?", ok({"value": [listed]}))
    transport.add("GET", r"vaults/rsv1\?", ok(full))
    transport.add("GET", r"vaults/rsv1/replicationProtectedItems\?", ok({"value": [item]}))
    inventory = run(transport)
    (vault,) = inventory.vaults
    assert (vault.public_network_access, vault.private_endpoint_state_for_site_recovery) == (
        "Disabled",
        "Enabled",
    )
    (protected,) = inventory.protected_items
    assert protected.vault_id.lower() == VAULT.lower()
    assert coverage(inventory, "protected_items:rsv1").items == 1
    assert coverage(inventory, "network_mappings:rsv1").status == "ok"


def test_failed_vault_get_falls_back_to_the_listed_vault() -> None:
    listed = {"id": VAULT, "name": "rsv1", "location": "westeurope", "properties": {}}
    transport = fake_arm()
    transport.add("GET", r"RecoveryServices/vaults\?", ok({"value": [listed]}))
    transport.add("GET", r"vaults/rsv1\?", arm_error(403, "AuthorizationFailed"))
    inventory = run(transport)
    assert [v.name for v in inventory.vaults] == ["rsv1"]
    assert inventory.vaults[0].public_network_access is None
    assert coverage(inventory, "vault:rsv1").status == "forbidden"


# --- gateways and connections: per resource group ----------------------------------------------------


def test_gateways_are_listed_only_in_groups_that_hold_them() -> None:
    gw = f"/subscriptions/{SUB}/resourceGroups/RG-Hub/providers/Microsoft.Network/virtualNetworkGateways/gw1"
    gateway = {
        "id": gw,
        "name": "gw1",
        "location": "westeurope",
        "properties": {
            "gatewayType": "ExpressRoute",
            "ipConfigurations": [
                {"properties": {"subnet": {"id": vnet("hub")["id"] + "/subnets/GatewaySubnet"}}}
            ],
        },
    }
    transport = fake_arm()
    transport.add(
        "GET",
        r"/resources\?",
        ok({"value": [{"id": gw, "type": "microsoft.network/virtualnetworkgateways"}]}),
    )
    transport.add(
        "GET",
        r"resourceGroups/RG-Hub/providers/Microsoft.Network/virtualNetworkGateways",
        ok({"value": [gateway]}),
    )
    inventory = run(transport)
    assert [g.virtual_network_id for g in inventory.virtual_network_gateways] == [vnet("hub")["id"]]
    assert transport.urls("/resourceGroups/") == [
        f"{ARM}/subscriptions/{SUB}/resourceGroups/RG-Hub/providers/Microsoft.Network/virtualNetworkGateways"
        "?api-version=2025-03-01"
    ]
    (lookup,) = transport.urls(r"/resources\?")
    assert "resourceType%20eq%20'Microsoft.Network/connections'" in lookup
    assert coverage(inventory, "virtual_network_gateways:RG-Hub").items == 1


# --- service tags ------------------------------------------------------------------------------------


TAGS = {
    "name": "public",
    "values": [
        {
            "name": "Storage.WestEurope",
            "properties": {"region": "westeurope", "addressPrefixes": ["20.38.0.0/20"]},
        },
        {"name": "AzureSiteRecovery", "properties": {"region": "", "addressPrefixes": ["2603:1000::/40"]}},
    ],
    "nextLink": f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Network/locations/x/serviceTags?skip={{t}}",
}


def test_service_tags_come_once_from_the_region_hint() -> None:
    transport = fake_arm((SUB, "Prod"), (SUB2, "DR"))
    transport.add("GET", "serviceTags", ok(TAGS))
    inventory = run(transport, SUB, SUB2, regions=["West Europe"])
    assert transport.urls("serviceTags") == [
        f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/serviceTags?api-version=2025-03-01"
    ]
    assert {t.name: t.region for t in inventory.service_tags} == {
        "AzureSiteRecovery": None,
        "Storage.WestEurope": "westeurope",
    }


def test_service_tags_location_falls_back_to_the_first_vnet() -> None:
    transport = fake_arm()
    transport.add("GET", r"virtualNetworks\?", ok({"value": [vnet("a", "North Europe")]}))
    transport.add("GET", "serviceTags", ok(TAGS))
    inventory = run(transport)
    (url,) = transport.urls("serviceTags")
    assert "/locations/northeurope/serviceTags" in url
    assert coverage(inventory, "service_tags").items == 2


def test_no_hint_and_no_vnet_means_no_service_tags_request() -> None:
    transport = fake_arm()
    inventory = run(transport)
    assert transport.urls("serviceTags") == []
    assert coverage(inventory, "service_tags").status == "not_found"


# --- subscriptions -------------------------------------------------------------------------------------


def test_display_name_resolves_to_its_id() -> None:
    transport = fake_arm((SUB, "Prod"), (SUB2, "Contoso DR"))
    inventory = run(transport, "contoso dr")
    assert [s.id for s in inventory.subscriptions] == [SUB2]
    assert inventory.subscriptions[0].display_name == "Contoso DR"
    assert not transport.urls(rf"/subscriptions/{SUB}/providers")


def test_unknown_name_is_a_usage_error_listing_readable_subscriptions() -> None:
    transport = fake_arm((SUB, "Prod"), (SUB2, "Contoso DR"))
    with pytest.raises(UsageError) as error:
        run(transport, "Staging")
    assert "Contoso DR (" + SUB2 + ")" in str(error.value) and "Prod (" + SUB + ")" in str(error.value)


def test_all_subscriptions_scans_every_readable_one() -> None:
    transport = fake_arm((SUB, "Prod"), (SUB2, "DR"))
    inventory = run(transport, all_subscriptions=True)
    assert sorted(s.id for s in inventory.subscriptions) == [SUB, SUB2]


def test_token_rejected_on_subscription_is_auth_error() -> None:
    transport = fake_arm()
    transport.add("GET", rf"/subscriptions/{SUB}\?", arm_error(401, "InvalidAuthenticationToken"))
    with pytest.raises(AuthError, match="rejected the token"):
        run(transport)


def test_unreadable_only_subscription_is_auth_error() -> None:
    transport = fake_arm()
    transport.add("GET", rf"/subscriptions/{SUB}\?", arm_error(404, "SubscriptionNotFound"))
    with pytest.raises(AuthError, match=f"subscription {SUB} not found or not readable"):
        run(transport)
    assert not transport.urls("/providers/")


def test_one_unreadable_subscription_among_readable_ones_is_coverage() -> None:
    transport = fake_arm((SUB, "Prod"))
    transport.add("GET", rf"/subscriptions/{SUB2}\?", arm_error(403, "AuthorizationFailed"))
    inventory = run(transport, SUB, SUB2)
    assert [s.id for s in inventory.subscriptions] == [SUB]
    assert coverage(inventory, "subscription", SUB2).status == "forbidden"
    assert not transport.urls(rf"/subscriptions/{SUB2}/providers")
    assert coverage(inventory, "virtual_networks", SUB).status == "ok"


def test_any_failure_on_the_only_subscription_is_an_auth_error() -> None:
    """Nothing in scope could be read: exit 3 whatever the cause (DESIGN.md §8.2)."""
    transport = fake_arm()
    transport.add("GET", rf"/subscriptions/{SUB}\?", arm_error(503, "ServiceUnavailable"))
    with pytest.raises(AuthError, match=f"no requested subscription could be read: {SUB} .*HTTP 503"):
        run(transport)
    assert not transport.urls("/providers/")


class FailingCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token.\nAttempted: ...")


def test_credential_failure_surfaces_as_one_line_auth_error() -> None:
    with pytest.raises(AuthError) as error:
        run(fake_arm(), credential=FailingCredential())
    assert "\n" not in str(error.value)
    assert "DefaultAzureCredential failed to retrieve a token." in str(error.value)


def test_static_token_is_sent_as_bearer() -> None:
    transport = fake_arm()
    run(transport, credential=StaticTokenCredential("opaque-token"))
    assert {h["Authorization"] for _, _, h in transport.requests} == {"Bearer opaque-token"}


def test_wrapped_default_credential_failure_surfaces_from_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unavailable:
        def __init__(self, **kwargs: Any) -> None:
            pass

        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError(
                "EnvironmentCredential: incomplete\nAzureCliCredential: not logged in"
            )

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Unavailable)
    transport = fake_arm()
    with pytest.raises(AuthError, match="EnvironmentCredential: incomplete"):
        run(transport, credential=make_credential(CLOUDS["AzureCloud"]))
    assert transport.requests == []  # failed before anything was sent


def test_name_lookup_that_cannot_reach_arm_is_a_usage_error() -> None:
    transport = fake_arm()
    transport.add("GET", r"/subscriptions\?", ServiceRequestError("connection refused"))
    with pytest.raises(UsageError, match="connection refused"):
        run(transport, "Prod")


def test_the_endpoint_tables_cover_the_collectors_the_inventory_names() -> None:
    """inventory.model names the collectors (the snapshot check and the rules read them); the
    scan must have a URL for each, and read each per-object one per object of its list."""
    assert {*endpoints.SUBSCRIPTION_LISTS, "gateway_resource_groups"} == set(SUBSCRIPTION_COLLECTORS)
    assert {c: "vaults" for c in endpoints.VAULT_LISTS} | {"vault": "vaults"} == {
        c: p for c, p in PER_OBJECT_COLLECTORS.items() if p == "vaults"
    }
    assert {c: "gateway_resource_groups" for c in endpoints.RESOURCE_GROUP_LISTS} == {
        c: p for c, p in PER_OBJECT_COLLECTORS.items() if p == "gateway_resource_groups"
    }
