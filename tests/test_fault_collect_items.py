"""Fail closed on list items (DESIGN.md §8.2): an item the parser cannot read makes its collector
`partial` with the item named; a structural field of the wrong type is such an item, never an
empty default; a list cut short by a registration demand, a paging loop or the page cap is a gap;
an item is never stored twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fakearm import FakeArm
from test_collect_fakearm import NETWORK_SUB, scan_fake
from test_collect_scan import ARM, SUB, TAGS, coverage, fake_arm, run, vnet
from test_collect_transport import arm_error, ok

from asr_audit.collect import compute, network, reads, recovery, storage
from asr_audit.collect.fields import MAX_UNREAD_IDS, Malformed, parse_items

RG = f"/subscriptions/{SUB}/resourceGroups/rg"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines"
VAULT = f"{RG}/providers/Microsoft.RecoveryServices/vaults/rsv1"
ITEM = f"{VAULT}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems"


def vm(name: str, **properties: Any) -> dict[str, Any]:
    return {"id": f"{VM}/{name}", "name": name, "location": "westeurope", "properties": properties}


# --- an unreadable item makes the collector partial --------------------------------------------------


def test_a_vm_whose_storage_profile_is_a_string_is_unread_and_the_collector_partial() -> None:
    transport = fake_arm()
    listed = [vm("good", storageProfile={"dataDisks": [{"lun": 0}]}), vm("bad", storageProfile="oops")]
    transport.add("GET", r"virtualMachines\?", ok({"value": listed}))
    inventory = run(transport)
    vms = coverage(inventory, "virtual_machines")
    assert (vms.status, vms.items, vms.unread) == ("partial", 1, [f"{VM}/bad"])
    assert (
        vms.detail
        == f"1 item(s) could not be read (first: {VM}/bad: 'storageProfile' is a string, not an object)"
    )
    assert [v.name for v in inventory.virtual_machines] == ["good"]


def test_an_item_without_a_readable_id_is_named_by_its_position() -> None:
    transport = fake_arm()
    page2 = (
        f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks?api-version=x&$skiptoken=1"
    )
    transport.add("GET", r"virtualNetworks\?api", ok({"value": [vnet("a")], "nextLink": page2}))
    transport.add("GET", "skiptoken=1", ok({"value": [vnet("b"), {"id": 42}, "junk"]}))
    vnets = coverage(run(transport), "virtual_networks")
    assert (vnets.status, vnets.items) == ("partial", 2)
    assert vnets.unread == ["page 2 item 2", "page 2 item 3"]
    assert vnets.detail and vnets.detail.startswith("2 item(s) could not be read (first: page 2 item 2: ")


def test_the_unread_list_is_capped_and_the_detail_keeps_the_count() -> None:
    transport = fake_arm()
    broken = [vm(f"vm{i}", storageProfile=[]) for i in range(MAX_UNREAD_IDS + 50)]
    transport.add("GET", r"virtualMachines\?", ok({"value": broken}))
    vms = coverage(run(transport), "virtual_machines")
    assert vms.status == "partial" and len(vms.unread) == MAX_UNREAD_IDS
    assert (vms.detail or "").startswith(f"{MAX_UNREAD_IDS + 50} item(s) could not be read")


def test_a_protected_item_outside_any_vault_is_unread() -> None:
    transport = fake_arm()
    listed = {"id": VAULT, "name": "rsv1", "location": "westeurope"}
    stray = f"/subscriptions/{SUB}/replicationProtectedItems/vm9"
    items = [{"id": f"{ITEM}/vm1", "properties": {}}, {"id": stray, "properties": {}}]
    transport.add("GET", r"RecoveryServices/vaults\?", ok({"value": [listed]}))
    transport.add("GET", r"vaults/rsv1/replicationProtectedItems\?", ok({"value": items}))
    inventory = run(transport)
    protected = coverage(inventory, "protected_items:rsv1")
    assert (protected.status, protected.unread, protected.object_id) == ("partial", [stray], VAULT)
    assert "not under a vault" in (protected.detail or "")
    assert [p.name for p in inventory.protected_items] == ["vm1"]


def test_unreadable_service_tags_make_the_tags_partial() -> None:
    transport = fake_arm()
    broken = {"name": "Broken", "properties": "not an object"}
    transport.add("GET", "serviceTags", ok({**TAGS, "values": [*TAGS["values"], broken, 7]}))
    tags = coverage(run(transport, regions=["westeurope"]), "service_tags")
    assert (tags.status, tags.items, tags.unread) == ("partial", 2, ["item 3", "item 4"])


STRUCTURAL: list[tuple[Callable[[dict[str, Any]], Any], dict[str, Any], str]] = [
    (compute.parse_virtual_machine, {"storageProfile": "x"}, "'storageProfile' is a string"),
    (compute.parse_virtual_machine, {"storageProfile": {"dataDisks": {}}}, "'dataDisks' is an object"),
    (compute.parse_virtual_machine, {"storageProfile": {"dataDisks": ["disk"]}}, "'dataDisks' entry 1"),
    (compute.parse_virtual_machine, {"storageProfile": {"osDisk": []}}, "'osDisk' is a list"),
    (network.parse_network_interface, {"ipConfigurations": "x"}, "'ipConfigurations' is a string"),
    (network.parse_virtual_network, {"subnets": {}}, "'subnets' is an object"),
    (network.parse_network_security_group, {"securityRules": 1}, "'securityRules' is a number"),
    (network.parse_route_table, {"routes": "x"}, "'routes' is a string"),
    (
        network.parse_virtual_network,
        {"subnets": [{"name": "s", "properties": {"routeTable": "rt"}}]},
        "reference",
    ),
    (storage.parse_storage_account, {"networkAcls": []}, "'networkAcls' is a list"),
    (
        recovery.parse_protected_item,
        {"providerSpecificDetails": "A2A"},
        "'providerSpecificDetails' is a string",
    ),
    (
        recovery.parse_protected_item,
        {"providerSpecificDetails": {"instanceType": "A2A", "protectedManagedDisks": {"diskId": "d"}}},
        "'protectedManagedDisks' is an object",
    ),
]


@pytest.mark.parametrize(("parse", "properties", "why"), STRUCTURAL)
def test_a_structural_field_of_the_wrong_type_is_malformed(
    parse: Callable[[dict[str, Any]], Any], properties: dict[str, Any], why: str
) -> None:
    with pytest.raises(Malformed, match=re.escape(why)):
        parse({"id": f"{ITEM}/thing", "location": "westeurope", "properties": properties})


@pytest.mark.parametrize(("parse", "properties", "_"), STRUCTURAL)
def test_absent_or_null_structural_fields_are_fine(
    parse: Callable[[dict[str, Any]], Any], properties: dict[str, Any], _: str
) -> None:
    """ARM omits optional properties: absent or null reads as empty, not as malformed."""
    nulled = {key: None for key in properties}
    parsed, unread = parse_items([{"id": f"{ITEM}/thing", "properties": nulled}, {"id": f"{ITEM}/t2"}], parse)
    assert unread.count == 0 and len(parsed) == 2


# --- a registration demand on a later page is a gap -------------------------------------------------


def test_a_registration_demand_on_page_2_is_a_gap_keeping_page_1() -> None:
    transport = fake_arm()
    page2 = (
        f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks?api-version=x&$skiptoken=1"
    )
    message = "The subscription is not registered to use namespace 'Microsoft.Network'."
    transport.add("GET", r"virtualNetworks\?api", ok({"value": [vnet("a"), vnet("b")], "nextLink": page2}))
    transport.add("GET", "skiptoken=1", arm_error(409, "MissingSubscriptionRegistration", message))
    inventory = run(transport)
    vnets = coverage(inventory, "virtual_networks")
    assert (vnets.status, vnets.items) == ("error", 2)
    assert "page 2 of the list answered that resource provider Microsoft.Network is not registered" in (
        vnets.detail or ""
    )
    assert sorted(v.name for v in inventory.virtual_networks) == ["a", "b"]
    assert {m for m, _, _ in transport.requests} == {"GET"}


def test_a_registration_demand_for_a_listed_vault_is_a_gap_keeping_the_vault() -> None:
    transport = fake_arm()
    listed = {"id": VAULT, "name": "rsv1", "location": "westeurope"}
    transport.add("GET", r"RecoveryServices/vaults\?", ok({"value": [listed]}))
    transport.add("GET", r"vaults/rsv1\?", arm_error(409, "MissingSubscriptionRegistration", "namespace"))
    inventory = run(transport)
    assert coverage(inventory, "vault:rsv1").status == "error"
    assert [v.name for v in inventory.vaults] == ["rsv1"]


# --- paging loops, the page cap, duplicates ------------------------------------------------------------


def test_endless_next_links_serving_the_same_items_stop_at_the_first_repeat(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples", page_size=2)
    arm.add_endless_paging(r"/networkSecurityGroups$")
    inventory = scan_fake(arm, monkeypatch, [NETWORK_SUB])
    nsgs = coverage(inventory, "network_security_groups", NETWORK_SUB)
    assert nsgs.status == "error" and nsgs.detail == "paging stopped: page 2 repeats items already listed"
    assert nsgs.items == 2 and len({n.id.lower() for n in inventory.network_security_groups}) == 2
    assert len(inventory.network_security_groups) == 2
    assert sum(1 for r in arm.requests if r.path.endswith("/networkSecurityGroups")) == 2


def test_an_endless_list_of_new_items_stops_at_the_page_cap_as_a_gap(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "MAX_PAGES", 5)
    arm = fake_arm("api-examples", page_size=2)
    arm.add_endless_paging(r"/networkSecurityGroups$", fresh=True)
    inventory = scan_fake(arm, monkeypatch, [NETWORK_SUB])
    nsgs = coverage(inventory, "network_security_groups", NETWORK_SUB)
    assert (nsgs.status, nsgs.items) == ("error", 10)
    assert nsgs.detail == "paging stopped at the cap of 5 pages"
    assert sum(1 for r in arm.requests if r.path.endswith("/networkSecurityGroups")) == 5


def test_the_page_cap_is_a_million_resources() -> None:
    assert reads.MAX_PAGES == 1_000


def test_an_item_listed_twice_is_stored_once() -> None:
    transport = fake_arm()
    page2 = (
        f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks?api-version=x&$skiptoken=1"
    )
    again = dict(vnet("a"), id=vnet("a")["id"].upper())  # ids compare case-insensitively
    transport.add("GET", r"virtualNetworks\?api", ok({"value": [vnet("a"), vnet("b")], "nextLink": page2}))
    transport.add("GET", "skiptoken=1", ok({"value": [again, vnet("c"), vnet("c")]}))
    inventory = run(transport)
    assert sorted(v.name for v in inventory.virtual_networks) == ["a", "b", "c"]
    vnets = coverage(inventory, "virtual_networks")
    assert (vnets.status, vnets.items) == ("ok", 3)
