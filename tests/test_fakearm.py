"""The fake ARM server itself: shapes, paging, auth, read-only, faults and scoping.

Collector tests trust this server to behave like ARM; these tests make that trust earned.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
import yaml
from conftest import SCENARIOS_DIR
from fakearm import FakeArm, Scenario, ScenarioError
from fakearm.scenario import VAULT_CHILDREN

SUB = "11111111-aaaa-4bbb-8ccc-000000000001"
OTHER_SUB = "11111111-aaaa-4bbb-8ccc-000000000002"
TENANT = "22222222-dddd-4eee-8fff-000000000001"
API = "2025-03-01"
VNETS = "Microsoft.Network/virtualNetworks"
GATEWAY_TYPE = "Microsoft.Network/virtualNetworkGateways"


def _vnet(sub: str, rg: str, name: str) -> dict[str, Any]:
    rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}"
    return {
        "id": rid,
        "name": name,
        "type": "Microsoft.Network/virtualNetworks",
        "location": "eastus",
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [
                {"id": f"{rid}/subnets/app", "name": "app", "properties": {"addressPrefix": "10.0.1.0/24"}}
            ],
        },
    }


def _write_scenario(root: Path, faults: list[dict[str, Any]] | None = None) -> Path:
    """Two subscriptions; five VNets in SUB over two groups, one in OTHER_SUB; a vault with ASR children."""
    (root / "resources").mkdir(parents=True)
    meta = {
        "subscriptions": [
            {"id": SUB, "displayName": "Contoso Prod", "tenantId": TENANT},
            {"id": OTHER_SUB, "displayName": "Contoso DR", "tenantId": TENANT},
        ],
        "faults": faults or [],
    }
    (root / "scenario.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    vnets = [_vnet(SUB, "rg-app" if i % 2 else "RG-Net", f"vnet-{i}") for i in range(5)]
    vnets.append(_vnet(OTHER_SUB, "rg-dr", "vnet-dr"))
    vault_type = "Microsoft.RecoveryServices/vaults"
    vault = f"/subscriptions/{SUB}/resourceGroups/rg-asr/providers/{vault_type}/vault-a"
    other_vault = f"{vault}b"
    vaults = [
        {"id": vault, "name": "vault-a", "type": vault_type, "location": "westus2"},
        {"id": other_vault, "name": "vault-ab", "type": vault_type, "location": "westus2"},
    ]
    asr_vault = vault.replace("/subscriptions/", "/Subscriptions/")
    container = "/replicationFabrics/f1/replicationProtectionContainers/c1/replicationProtectedItems"
    items = [
        {"id": f"{asr_vault}{container}/item-1", "name": "item-1", "properties": {}},
        {"id": f"{other_vault}{container}/item-2", "name": "item-2", "properties": {}},
    ]
    gateway = {
        "id": f"/subscriptions/{SUB}/resourceGroups/RG-Net/providers/{GATEWAY_TYPE}/gw",
        "name": "gw",
        "location": "eastus",
        "properties": {},
    }
    files = {
        "virtualNetworks": vnets,
        "vaults": vaults,
        "replicationProtectedItems": items,
        "virtualNetworkGateways": [gateway],
    }
    for stem, bodies in files.items():
        (root / "resources" / f"{stem}.json").write_text(json.dumps(bodies), encoding="utf-8")
    tags = {"name": "public", "values": [{"name": "Storage", "id": "Storage", "properties": {"region": ""}}]}
    (root / "serviceTags.json").write_text(json.dumps(tags), encoding="utf-8")
    return root


@pytest.fixture
def arm(tmp_path: Path) -> Any:
    with FakeArm(_write_scenario(tmp_path / "s"), page_size=2) as server:
        yield server


def _get(arm: FakeArm, target: str, token: str | None = "test-token", **params: str) -> requests.Response:
    """GET a path (or a nextLink URL, verbatim) with exactly the given query parameters."""
    url = target if target.startswith("https://") else arm.url + target
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, params=params or None, headers=headers, verify=arm.ca_bundle, timeout=10)


def _api(arm: FakeArm, path: str, **params: str) -> requests.Response:
    """GET a path the way a client does: with an api-version."""
    return _get(arm, path, **({"api-version": API} | params))


def _walk(arm: FakeArm, path: str, **params: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Follow nextLink verbatim, as the network and compute SDK clients do."""
    items: list[dict[str, Any]] = []
    links: list[str] = []
    response = _api(arm, path, **params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        if "nextLink" not in body:
            return items, links
        links.append(body["nextLink"])
        response = _get(arm, body["nextLink"])


def test_paging_follows_next_link_on_own_host_keeping_api_version(arm: FakeArm) -> None:
    items, links = _walk(arm, f"/subscriptions/{SUB}/providers/{VNETS}")
    assert [v["name"] for v in items] == [f"vnet-{i}" for i in range(5)]
    assert len(links) == 2  # 5 items, pages of 2: the third page carries no nextLink
    for link in links:
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == arm.url
        assert parse_qs(parts.query)["api-version"] == [API]
        assert parts.path == f"/subscriptions/{SUB}/providers/{VNETS}"


def test_next_link_keeps_the_filter_of_generic_resources(arm: FakeArm) -> None:
    flt = f"resourceType eq '{VNETS}' or resourceType eq 'microsoft.recoveryservices/vaults'"
    items, links = _walk(arm, f"/subscriptions/{SUB}/resources", **{"$filter": flt})
    assert links and all(parse_qs(urlsplit(link).query)["$filter"] == [flt] for link in links)
    assert {i["type"] for i in items} == {VNETS, "Microsoft.RecoveryServices/vaults"}
    assert len(items) == 7  # five VNets and two vaults of SUB; the gateway is filtered out
    assert set(items[0]) == {"id", "name", "type", "location"}


def test_lists_are_scoped_to_the_subscription_in_the_path(arm: FakeArm) -> None:
    items, _ = _walk(arm, f"/subscriptions/{OTHER_SUB}/providers/{VNETS}")
    assert [v["name"] for v in items] == ["vnet-dr"]


def test_resource_group_lists_filter_case_insensitively(arm: FakeArm) -> None:
    items, _ = _walk(arm, f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/{VNETS}")
    assert [v["name"] for v in items] == ["vnet-0", "vnet-2", "vnet-4"]
    gateways, _ = _walk(arm, f"/subscriptions/{SUB}/resourceGroups/RG-NET/providers/{GATEWAY_TYPE}")
    assert [g["name"] for g in gateways] == ["gw"]


def test_gateways_have_no_subscription_wide_list(arm: FakeArm) -> None:
    response = _api(arm, f"/subscriptions/{SUB}/providers/{GATEWAY_TYPE}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "InvalidResourceType"


def test_unknown_resource_group_is_404(arm: FakeArm) -> None:
    response = _api(arm, f"/subscriptions/{SUB}/resourceGroups/nope/providers/{VNETS}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceGroupNotFound"


def test_subscriptions_list_get_and_unknown(arm: FakeArm) -> None:
    subs, _ = _walk(arm, "/subscriptions")
    assert [(s["subscriptionId"], s["displayName"], s["state"]) for s in subs] == [
        (SUB, "Contoso Prod", "Enabled"),
        (OTHER_SUB, "Contoso DR", "Enabled"),
    ]
    assert subs[0]["id"] == f"/subscriptions/{SUB}" and subs[0]["tenantId"] == TENANT
    assert _api(arm, f"/subscriptions/{SUB.upper()}").json()["subscriptionId"] == SUB
    unknown = "99999999-0000-0000-0000-000000000000"
    for path in (f"/subscriptions/{unknown}", f"/subscriptions/{unknown}/providers/{VNETS}"):
        response = _api(arm, path)
        assert response.status_code == 404
        message = f"The subscription '{unknown}' could not be found."
        assert response.json() == {"error": {"code": "SubscriptionNotFound", "message": message}}


def test_vault_children_are_filtered_by_vault_prefix_case_insensitively(arm: FakeArm) -> None:
    vault = f"/subscriptions/{SUB}/resourcegroups/RG-ASR/providers/microsoft.recoveryservices/vaults/VAULT-A"
    items, _ = _walk(arm, f"{vault}/replicationProtectedItems")
    # item-1 is stored under /Subscriptions/ (ASR's casing); item-2 belongs to vault-ab, a name-prefix trap.
    assert [i["name"] for i in items] == ["item-1"]
    empty, _ = _walk(arm, f"{vault}/replicationNetworkMappings")
    assert empty == []
    missing = _api(arm, f"{vault}-missing/replicationProtectedItems")
    assert missing.status_code == 404


def test_single_resource_and_inline_child_by_id_any_case(arm: FakeArm) -> None:
    vnet_id = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Network/virtualNetworks/vnet-1"
    body = _api(arm, vnet_id.upper()).json()
    assert body["id"] == vnet_id and body["properties"]["subnets"][0]["name"] == "app"
    subnet = _api(arm, f"{vnet_id}/subnets/APP")
    assert subnet.status_code == 200 and subnet.json()["properties"]["addressPrefix"] == "10.0.1.0/24"
    subnets, _ = _walk(arm, f"{vnet_id}/subnets")
    assert [s["name"] for s in subnets] == ["app"]
    assert _api(arm, f"{vnet_id}/subnets/db").json()["error"]["code"] == "ResourceNotFound"


def test_service_tags_served_as_one_object_for_any_location(arm: FakeArm) -> None:
    for loc in ("eastus", "westus2"):
        body = _api(
            arm, f"/subscriptions/{SUB}/providers/Microsoft.Network/locations/{loc}/serviceTags"
        ).json()
        assert body["name"] == "public" and body["values"][0]["name"] == "Storage"


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_token_is_401_invalid_authentication_token(arm: FakeArm, token: str | None) -> None:
    response = _get(arm, "/subscriptions", token=token, **{"api-version": API})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert arm.requests[-1].path == "/subscriptions"


def test_missing_api_version_is_400(arm: FakeArm) -> None:
    response = _get(arm, "/subscriptions")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_writes_are_refused_405_and_logged(arm: FakeArm) -> None:
    headers = {"Authorization": "Bearer test-token"}
    vnet = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Network/virtualNetworks/vnet-1"
    target = arm.url + vnet
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        response = requests.request(
            method,
            target,
            params={"api-version": API},
            json={},
            headers=headers,
            verify=arm.ca_bundle,
            timeout=10,
        )
        assert response.status_code == 405, method
    assert [r.method for r in arm.requests] == ["PUT", "PATCH", "DELETE", "POST"]
    assert _api(arm, target).status_code == 200  # still serving after refusals


def test_resource_graph_query_is_the_one_allowed_post(arm: FakeArm) -> None:
    def post(query: str) -> requests.Response:
        return requests.post(
            f"{arm.url}/providers/Microsoft.ResourceGraph/resources",
            params={"api-version": "2024-04-01"},
            json={"subscriptions": [SUB], "query": query},
            headers={"Authorization": "Bearer test-token"},
            verify=arm.ca_bundle,
            timeout=10,
        )

    response = post("resources | where type =~ 'microsoft.compute/disks'")
    assert response.status_code == 200
    assert response.json()["data"] == [] and response.json()["resultTruncated"] == "false"
    assert arm.requests[-1].method == "POST"
    assert post("Resources | limit 1").status_code == 400  # only the queries asr-audit sends


def test_fault_with_times_answers_then_serves_normally(tmp_path: Path) -> None:
    faults = [{"path": "/virtualnetworks$", "status": 429, "times": 1, "headers": {"Retry-After": "0"}}]
    with FakeArm(_write_scenario(tmp_path / "s", faults)) as arm:
        path = f"/subscriptions/{SUB}/providers/{VNETS}"
        first = _api(arm, path)
        assert first.status_code == 429 and first.headers["Retry-After"] == "0"
        assert first.json()["error"]["code"] == "TooManyRequests"
        second = _api(arm, path)
        assert second.status_code == 200 and len(second.json()["value"]) == 2


def test_fault_without_times_is_permanent_and_body_is_raw(tmp_path: Path) -> None:
    faults = [
        {"path": f"{OTHER_SUB}/providers/{VNETS}", "status": 403},
        {"path": "/vaults$", "status": 200, "body": '{"value": [ {"id": '},
    ]
    with FakeArm(_write_scenario(tmp_path / "s", faults)) as arm:
        for _ in range(3):
            denied = _api(arm, f"/subscriptions/{OTHER_SUB}/providers/{VNETS}")
            assert denied.status_code == 403
            assert denied.json()["error"]["code"] == "AuthorizationFailed"
        allowed = _api(arm, f"/subscriptions/{SUB}/providers/{VNETS}")
        assert allowed.status_code == 200
        garbled = _api(arm, f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults")
        assert garbled.status_code == 200 and garbled.text == '{"value": [ {"id": '


def test_add_fault_at_run_time(arm: FakeArm) -> None:
    arm.add_fault(r"/subscriptions$", 500, times=2)
    codes = [_api(arm, "/subscriptions").status_code for _ in range(3)]
    assert codes == [500, 500, 200]


def test_latency_does_not_serialise_concurrent_requests(tmp_path: Path) -> None:
    with FakeArm(_write_scenario(tmp_path / "s"), latency=0.4) as arm:
        codes: list[int] = []
        threads = [
            threading.Thread(target=lambda: codes.append(_api(arm, "/subscriptions").status_code))
            for _ in range(3)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    assert codes == [200, 200, 200]
    assert 0.4 <= elapsed < 1.1  # three sequential sleeps would take 1.2 s


def test_unknown_resource_file_is_rejected(tmp_path: Path) -> None:
    root = _write_scenario(tmp_path / "s")
    (root / "resources" / "virtualNetwork.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ScenarioError, match="unknown resource file"):
        Scenario.load(root)


SHIPPED = sorted(p.name for p in SCENARIOS_DIR.iterdir() if (p / "scenario.yaml").exists())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_resource_is_reachable(name: str) -> None:
    """Each body routes: its subscription (or, for a role assignment made at a management group,
    that group) is declared and a GET by its id returns it."""
    scenario = Scenario.load(SCENARIOS_DIR / name)
    declared = {s.id.lower() for s in scenario.subscriptions}
    groups = {g.id.lower() for top in scenario.management_groups for g in top.walk()}
    same_id: dict[str, list[dict[str, Any]]] = {}
    for stem, bodies in scenario.resources.items():
        for body in bodies:
            owner = body["id"].split("/")
            group = owner[4].lower() if owner[2].lower() == "microsoft.management" else None
            assert owner[2].lower() in declared or group in groups, f"{name}/{stem}: undeclared scope"
            if stem not in VAULT_CHILDREN:
                same_id.setdefault(body["id"].lower(), []).append(body)
    with FakeArm(scenario, page_size=50) as arm, requests.Session() as session:
        session.headers["Authorization"] = "Bearer test-token"
        for bodies in same_id.values():
            url = f"{arm.url}{quote(bodies[0]['id'])}?api-version={API}"
            fetched = session.get(url, verify=arm.ca_bundle, timeout=10)
            assert fetched.status_code == 200, bodies[0]["id"]
            assert fetched.json() in bodies  # upstream examples repeat ids; any of them will do


def test_the_test_session_refuses_anything_but_loopback() -> None:
    """conftest's guard: a stray call to Azure fails at once instead of leaving the machine."""
    with pytest.raises(socket.gaierror, match="only loopback"):
        socket.getaddrinfo("management.azure.com", 443)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="only loopback"):
        sock.connect(("192.0.2.10", 443))
