"""The cache accounts' role assignments on the ARM backend: one unfiltered list per subscription
holding cache accounts, read once however many accounts and vaults it serves, each account
keeping the assignments in effect at it; a failed list is the gap of every cache account of the
subscription, and an assignment without a scope is unread, never dropped or applied."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from conftest import SCENARIOS_DIR
from fakearm import FakeArm
from fakearm.scenario import Scenario

from asr_audit import ids
from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import StaticTokenCredential
from asr_audit.access.policies import RetrySettings
from asr_audit.app import runner
from asr_audit.collect import ScanRequest, scan
from asr_audit.collect.assignments import AssignmentIndex
from asr_audit.collect.fields import Unread
from asr_audit.inventory import Inventory

PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"  # the broken scenario's: four vaults, eight cache accounts
CONN = "5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d"  # no cache account
GROUP = f"/subscriptions/{PROD}/resourceGroups/rg-asr-eus"
ACCOUNT = GROUP + "/providers/Microsoft.Storage/storageAccounts/{name}"
LIST_PATH = f"/subscriptions/{PROD}/providers/Microsoft.Authorization/roleAssignments"
QUICK = RetrySettings(retry_after_cap=0.05, retry_total=2, backoff_factor=0.01, backoff_max=0.02)
MG = "/providers/Microsoft.Management/managementGroups/"
KEY_ACCESS = "STG-CACHE-KEY-ACCESS"


def _assignment(scope: str | None, name: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "principalId": f"principal-{name}",
        "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    }
    if scope is not None:
        props["scope"] = scope
    base = scope if scope and scope != "/" else f"/subscriptions/{PROD}"
    return {
        "id": f"{base}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "type": "Microsoft.Authorization/roleAssignments",
        "name": name,
        "properties": props,
    }


# --- the matching rule, on its own -------------------------------------------------------------------


def test_an_account_keeps_what_is_made_at_it_its_group_its_subscription_and_above() -> None:
    account = ACCOUNT.format(name="cache")
    rows = [
        _assignment(account.upper(), "account"),  # ids compare without case
        _assignment(GROUP, "group"),
        _assignment(f"/subscriptions/{PROD}", "subscription"),
        _assignment(f"{MG}mg-fabrikam-landingzones", "management-group"),
        _assignment("/", "root"),
        _assignment(ACCOUNT.format(name="cache2"), "other-account"),  # shares the name's prefix
        _assignment(f"{GROUP}2", "other-group"),  # rg-asr-eus2: shares the group's prefix
        _assignment(f"{account}/blobServices/default", "below-the-account"),
        _assignment(None, "unscoped"),
    ]
    unread = Unread()
    kept = AssignmentIndex({PROD: rows}).in_effect_at(account, PROD, unread)
    assert [r["name"] for r in kept] == ["account", "group", "subscription", "management-group", "root"]
    assert unread.count == 1 and unread.ids == [rows[-1]["id"]]
    assert "no properties.scope" in (unread.detail() or "")


def test_an_unscoped_row_is_unread_only_under_the_subscription_it_was_listed_for() -> None:
    index = AssignmentIndex({PROD: [_assignment(None, "unscoped")], CONN: []})
    elsewhere, here = Unread(), Unread()
    assert index.in_effect_at(f"/subscriptions/{CONN}/resourceGroups/g/x/y", CONN, elsewhere) == []
    assert index.in_effect_at(ACCOUNT.format(name="cache"), PROD.upper(), here) == []
    assert (elsewhere.count, here.count) == (0, 1)


def test_rows_made_above_a_subscription_apply_only_where_the_caller_says() -> None:
    """ARM's own list holds only the subscription's ancestors (every one applies); a Resource
    Graph batch holds those of several subscriptions, so it names the ones that apply."""
    rows = [_assignment(f"{MG}mine", "mine"), _assignment(f"{MG}theirs", "theirs"), _assignment("/", "root")]
    index = AssignmentIndex({PROD: rows})
    account = ACCOUNT.format(name="cache")
    assert [r["name"] for r in index.in_effect_at(account, PROD, Unread())] == ["mine", "theirs", "root"]
    mine = {ids.key(f"{MG}mine"), "/"}
    assert [r["name"] for r in index.in_effect_at(account, PROD, Unread(), mine.__contains__)] == [
        "mine",
        "root",
    ]


# --- end to end, against the fake ARM ---------------------------------------------------------------


def _scenario(extra: list[dict[str, Any]] | None = None) -> Scenario:
    scenario = Scenario.load(SCENARIOS_DIR / "broken")
    scenario.faults = []  # the demo's own 403 on route tables is not what these tests look at
    scenario.resources = copy.deepcopy(scenario.resources)
    scenario.resources["roleAssignments"] += extra or []
    return scenario


# Beside the scenario's own five (the subscription, rg-asr-eus, stfabpremcacheeus,
# stfabsecurecacheeus, the landing zones management group Prod sits under).
EXTRA = [
    _assignment(ACCOUNT.format(name="stfabasrcacheeus"), "at-asrcache"),
    _assignment(f"/subscriptions/{PROD}/resourceGroups/rg-asr-wus2", "at-wus2-group"),
    _assignment(f"/subscriptions/{PROD}/resourceGroups/rg-hyperv-dr-wus2", "at-replica-group"),
    _assignment(f"{MG}mg-fabrikam", "at-top-group"),  # Prod's grandparent
    _assignment("/", "at-root"),
    _assignment(f"/subscriptions/{CONN}", "at-connectivity"),  # another subscription: not listed
]


def _scan(arm: FakeArm, subscriptions: tuple[str, ...] = (PROD, CONN), concurrency: int = 4) -> Inventory:
    cloud = CLOUDS["AzureCloud"].with_arm_endpoint(arm.url)
    request = ScanRequest(list(subscriptions), cloud, concurrency=concurrency, regions=["eastus"])
    return scan(request, StaticTokenCredential(arm.token), retry=QUICK)


def _held(inventory: Inventory) -> dict[str, set[str]]:
    """Cache account name -> the names of the assignments kept for it."""
    held: dict[str, set[str]] = {}
    for a in inventory.role_assignments:
        held.setdefault(ids.name_of(a.account_id), set()).add(ids.name_of(a.id))
    return held


def _cache_accounts(inventory: Inventory) -> dict[str, str]:
    """Cache account id (key) -> the vault names whose items use it."""
    found: dict[str, set[str]] = {}
    for item in inventory.protected_items:
        for disk in item.protected_disks:
            if item.instance_type == "A2A" and disk.cache_storage_account_id:
                found.setdefault(ids.key(disk.cache_storage_account_id), set()).add(
                    ids.name_of(item.vault_id)
                )
    return {k: ",".join(sorted(v)) for k, v in found.items()}


def _role_requests(arm: FakeArm) -> list[tuple[str, str | None]]:
    return [
        (r.path, r.query.get("$skiptoken"))
        for r in arm.requests
        if r.path.lower().endswith("/providers/microsoft.authorization/roleassignments")
    ]


@pytest.mark.parametrize("concurrency", [1, 16])
def test_one_list_per_subscription_however_many_accounts_and_vaults(
    fake_arm: Callable[..., FakeArm], concurrency: int
) -> None:
    """Page size 2: the list's 10 assignments of Prod take five pages, one chain of nextLinks."""
    arm = fake_arm(_scenario(EXTRA), page_size=2)
    inventory = _scan(arm, concurrency=concurrency)
    caches = _cache_accounts(inventory)
    assert len(caches) == 8 and len(set(caches.values())) >= 3  # accounts of several vaults
    assert _role_requests(arm) == [(LIST_PATH, None), *[(LIST_PATH, str(n)) for n in (2, 4, 6, 8)]]
    role = [c for c in inventory.coverage if c.kind == "role_assignments"]
    assert sorted(ids.key(c.object_id) for c in role) == sorted(caches)  # one record per account
    assert {(c.subscription_id, c.status) for c in role} == {(PROD, "ok")}
    common = {"9d3e2c41-6a7b-4f8c-8d1e-0a2b3c4d5e6f", "6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f"}
    common |= {"at-top-group", "at-root"}  # the subscription, its management groups, the root
    eus = common | {"1f2e3d4c-5b6a-4798-8a9b-c0d1e2f3a4b5"}  # + rg-asr-eus
    assert _held(inventory) == {
        "stfabasrcacheeus": eus | {"at-asrcache"},
        "stfabsecurecacheeus": eus | {"3b4c5d6e-7f8a-4b9c-8d0e-2f3a4b5c6d7e"},
        "stfabpremcacheeus": eus | {"2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"},
        "stfablockedcacheeus": eus,
        "stfabv1cacheeus": eus,
        "stfabgrscacheeus": eus,
        "stfabcachewus2": common | {"at-wus2-group"},
        "stfabcachebrs": common,
    }
    for c in role:
        assert c.items == len(_held(inventory)[ids.name_of(c.object_id)])


def test_the_clean_list_keeps_the_demo_findings(fake_arm: Callable[..., FakeArm]) -> None:
    """The subscription list gives the key-access rule what the per-account lists gave it."""
    arm = fake_arm(_scenario(), page_size=2)
    findings = runner.audit(_scan(arm), cloud=CLOUDS["AzureCloud"]).findings
    key_access = sorted((f.status, ids.name_of(f.resource_id)) for f in findings if f.rule_id == KEY_ACCESS)
    assert key_access == [("fail", "stfabsecurecacheeus")]  # expected.yaml's; stfabpremcacheeus passes


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"status": 403}, "forbidden"),
        ({"status": 429, "headers": {"Retry-After": "0"}}, "throttled"),  # more than the retries
        ({"status": 200, "body": '{"value": [{"id": "/subscriptions/x", '}, "error"),  # garbled
        ({"status": 500, "query": r"\$skiptoken=4"}, "error"),  # page 3 of 5
    ],
    ids=["403", "429-exhausted", "garbled", "later-page"],
)
def test_a_failed_subscription_list_is_the_gap_of_every_cache_account_there(
    fake_arm: Callable[..., FakeArm], fault: dict[str, Any], status: str
) -> None:
    arm = fake_arm(_scenario(EXTRA), page_size=2)
    arm.add_fault("^" + LIST_PATH.replace(".", r"\.") + "$", **fault)
    inventory = _scan(arm)
    caches = _cache_accounts(inventory)
    role = [c for c in inventory.coverage if c.kind == "role_assignments"]
    assert sorted(ids.key(c.object_id) for c in role) == sorted(caches)
    assert {c.status for c in role} == {status}
    # asked once for the eight accounts: one request and its retries, not one per account
    first_pages = [path for path, page in _role_requests(arm) if page is None]
    assert set(first_pages) == {LIST_PATH} and len(first_pages) <= 1 + QUICK.retry_total
    findings = runner.audit(inventory, cloud=CLOUDS["AzureCloud"]).findings
    key_access = sorted((f.status, ids.name_of(f.resource_id)) for f in findings if f.rule_id == KEY_ACCESS)
    # every account of the gap is unknown, the one the clean run fails included: never a pass
    assert {status for status, _ in key_access} == {"unknown"}
    assert {name for _, name in key_access} == {ids.name_of(c.object_id) for c in role}


def test_an_assignment_without_a_scope_is_unread_at_every_account_never_applied(
    fake_arm: Callable[..., FakeArm],
) -> None:
    unscoped = _assignment(None, "unscoped")
    arm = fake_arm(_scenario([unscoped]), page_size=50)
    inventory = _scan(arm)
    role = [c for c in inventory.coverage if c.kind == "role_assignments"]
    assert len(role) == 8 and {c.status for c in role} == {"partial"}
    assert all(c.unread == [unscoped["id"]] and "no properties.scope" in (c.detail or "") for c in role)
    assert not [a for a in inventory.role_assignments if ids.name_of(a.id) == "unscoped"]
    findings = runner.audit(inventory, cloud=CLOUDS["AzureCloud"]).findings
    key_access = {(f.status, ids.name_of(f.resource_id)) for f in findings if f.rule_id == KEY_ACCESS}
    assert ("unknown", "stfabsecurecacheeus") in key_access  # the clean run's fail, not judged
    assert {status for status, _ in key_access} == {"unknown"}
