"""The rules that judge VNet by VNet (`rules.BY_VNET`) run over groups of VNets, and the structures
they build per VNet and route table (the router; address books and compiled NSGs) are released
between groups: what a group builds is that group's alone, what is keyed by content stays, and the
findings and passed checks are those of one pass over the whole estate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from builders import a2a_item, inventory, resource_id, subnet_id, vault, virtual_network, vm_with_nic
from hypothesis import given
from hypothesis import strategies as st

from asr_audit import ids
from asr_audit import rules as rules_package
from asr_audit.access.clouds import CLOUDS
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest
from asr_audit.findings import Finding, Severity
from asr_audit.inventory import AzureFirewall, Inventory, Route, RouteTable, ServiceTag
from asr_audit.net import routes
from asr_audit.rules.base import Context, Rule
from asr_audit.rules.catalog import Catalog, default_catalog
from asr_audit.rules.common import nsg_evaluation
from asr_audit.rules.common.audited import subnet_cases
from bench.scale import build_inventory, shape_for

CLOUD = CLOUDS["AzureCloud"]
HEALTHY_CASSETTE = Path(__file__).resolve().parents[1] / "cassettes" / "healthy.yaml"
REGIONS = {"source_region": "eastus", "target_region": "westus"}


def _routed_estate() -> Inventory:
    """A protected VM in a subnet without default outbound access whose route table sends
    Entra ID to an Azure Firewall: every rule that follows routes reads the router for it."""
    vnet = virtual_network("vnet-app", "eastus")
    subnet = vnet.subnets[0]
    subnet.default_outbound_access = False
    table = RouteTable(
        resource_id("Microsoft.Network/routeTables", "rt"),
        "rt",
        "eastus",
        [Route("aad", "AzureActiveDirectory", "VirtualAppliance", "10.0.9.4")],
    )
    subnet.route_table_id = table.id
    firewall = AzureFirewall(
        resource_id("Microsoft.Network/azureFirewalls", "fw"), "fw", "eastus", ["10.0.9.4"]
    )
    vm, nic = vm_with_nic("vm1", "eastus", subnet_id(vnet))
    owner = vault("rsv", "westus")
    tags = [
        ServiceTag("AzureActiveDirectory", None, "AzureAD", ["20.190.128.0/18"]),
        ServiceTag("Storage.EastUS", "eastus", "AzureStorage", ["20.38.1.0/24"]),
        ServiceTag("EventHub.WestUS", "westus", "EventHub", ["13.88.0.0/24"]),
        ServiceTag("AzureSiteRecovery", None, "AzureSiteRecovery", ["52.10.0.0/24"]),
    ]
    item = a2a_item(owner, vm, primary="eastus", recovery="westus")
    return inventory(vnet, table, firewall, vm, nic, owner, item, *tags)


@pytest.fixture(scope="module")
def tenant() -> Inventory:
    """The bench's tenant at 3,000 resources: ~300 VNets in hub-spoke, tag UDRs to firewalls,
    NSGs of 20-200 rules, protected and candidate VMs in two regions."""
    return build_inventory(shape_for(3000))


@pytest.fixture(scope="module")
def demo() -> Inventory:
    return replay_scan(DEMO_CASSETTE, ScanRequest(subscriptions=[], cloud=CLOUD))


@pytest.fixture(scope="module")
def healthy() -> Inventory:
    return replay_scan(HEALTHY_CASSETTE, ScanRequest(subscriptions=[], cloud=CLOUD))


class _Recording(dict[str, Any]):
    """A memo that logs every look-up (`Context.shared` and `memoised` ask with `in` or `get`)
    and every release."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        super().__init__()
        self.log = log

    def get(self, key: str, default: Any = None) -> Any:
        self.log.append(("read", key))
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.log.append(("read", str(key)))
        return super().__contains__(key)

    def pop(self, key: str, *default: Any) -> Any:
        self.log.append(("dropped", key))
        return super().pop(key, *default)


def _analysed(inv: Inventory, select: list[str] | None = None) -> list[tuple[str, str]]:
    """The memo's log, with ("ran", rule id) after each run of a rule's check."""
    log: list[tuple[str, str]] = []
    ctx = Context(inv, **REGIONS)
    ctx.memo = _Recording(log)

    def logged(rule: Rule) -> Rule:
        def check(context: Context) -> list[Finding]:
            found = list(rule.check(context))
            log.append(("ran", rule.id))
            return found

        return Rule(rule.meta, check)

    rules_package.analyze(ctx, Catalog(map(logged, default_catalog())), select=select)
    return log


def _readers(log: list[tuple[str, str]], key: str) -> set[str]:
    readers: set[str] = set()
    reads = False
    for event, what in log:
        if event == "read" and what == key:
            reads = True
        elif event == "ran":
            if reads:
                readers.add(what)
            reads = False
        elif event == "dropped":
            reads = False  # the runner's own look-up, to release it
    return readers


def test_the_rules_that_read_each_released_structure_are_declared_and_run_first() -> None:
    assert set(rules_package.BY_VNET) == {routes.ROUTER_MEMO, nsg_evaluation.ESTATE_MEMO}
    log = _analysed(_routed_estate())
    grouped = frozenset().union(*rules_package.BY_VNET.values())
    dropped = {key: log.index(("dropped", key)) for key in rules_package.BY_VNET}
    for key, readers in rules_package.BY_VNET.items():
        # Every rule that reads it in the groups is named, and each of them reads it here.
        assert _readers(log[: dropped[key]], key) == readers
    assert {what for event, what in log[: min(dropped.values())] if event == "ran"} == grouped
    later = [what for event, what in log[max(dropped.values()) :] if event == "ran"]
    assert later and not set(later) & grouped
    # No later rule reads the router. NET-NSG-IP-RULES builds an NSG estate of its own: it gathers
    # each NSG's findings over every placement, so it cannot judge a group of VNets at a time.
    after = log[dropped[routes.ROUTER_MEMO] :]
    assert _readers(after, routes.ROUTER_MEMO) == set()
    assert _readers(log[dropped[nsg_evaluation.ESTATE_MEMO] :], nsg_evaluation.ESTATE_MEMO) == {
        "NET-NSG-IP-RULES"
    }


def test_a_run_without_those_rules_builds_and_drops_nothing() -> None:
    log = _analysed(_routed_estate(), select=["VM-NAME", "PLC-SAME-REGION"])
    for key in rules_package.BY_VNET:
        assert ("dropped", key) not in log and ("read", key) not in log


def _patch_release(monkeypatch: pytest.MonkeyPatch, held: list[tuple[set[str], set[str]]]) -> None:
    """Record, at each release, the VNets the structure held and the VNets in scope."""
    scopes: list[tuple[str, ...]] = []
    original_context_shared = Context.shared

    def shared(self: Context, key: str, build: Any) -> Any:
        if self.vnet_scope is not None:
            scopes.append(self.vnet_scope)
        return original_context_shared(self, key, build)

    monkeypatch.setattr(Context, "shared", shared)

    def recorder(cls: Any, vnets_of: Any) -> None:
        original = cls.release

        def release(self: Any) -> None:
            held.append((vnets_of(self), set(scopes[-1])))
            original(self)

        monkeypatch.setattr(cls, "release", release)

    recorder(routes.SubnetRouter, lambda router: {ids.key(vnet.id) for vnet, _ in router._vnets.values()})
    recorder(nsg_evaluation.Estate, lambda estate: {vnet for vnet, _ in estate._books})


def test_each_group_builds_only_for_its_own_vnets_and_then_releases_it(
    tenant: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[tuple[set[str], set[str]]] = []
    _patch_release(monkeypatch, held)
    monkeypatch.setattr(rules_package, "VNETS_PER_GROUP", 25)
    ctx = Context(tenant, **REGIONS)
    rules_package.analyze(ctx)

    groups = -(-len({ids.key(v.id) for v in tenant.virtual_networks}) // 25)
    assert len(held) == 2 * groups  # both structures, after every group
    assert all(vnets <= scope for vnets, scope in held)  # nothing of an earlier group is still held
    assert sum(1 for vnets, _ in held if vnets) > 4  # and the groups did build something
    assert routes.ROUTER_MEMO not in ctx.memo  # dropped after the last group
    assert ctx.vnet_scope is None


def test_in_a_group_the_rules_see_only_its_vnets(tenant: Inventory) -> None:
    ctx = Context(tenant, **REGIONS)
    every = subnet_cases(ctx)
    first = ids.key(every[0].vnet.id)
    ctx.vnet_scope = (first, "/subscriptions/none/vnet")
    assert [c.subnet.id for c in subnet_cases(ctx)] == [
        c.subnet.id for c in every if ids.key(c.vnet.id) == first
    ]
    ctx.vnet_scope = ()
    assert subnet_cases(ctx) == []
    ctx.vnet_scope = None
    assert len(subnet_cases(ctx)) == len(every) > 1
    assert ctx.in_scope({"b": 2, "a": 1}) == [1, 2]  # all, in key order


def _judged(
    inv: Inventory, per_group: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[tuple[str, str]]]:
    monkeypatch.setattr(rules_package, "VNETS_PER_GROUP", per_group)
    ctx = Context(inv, **REGIONS)
    found = rules_package.analyze(ctx)
    return [f.to_json() for f in found], [
        (c.rule_id, c.resource_id) for c in rules_package.passed(ctx, found)
    ]


@pytest.mark.parametrize("estate", ["tenant", "demo", "healthy", "routed"])
def test_grouping_changes_no_finding_and_no_passed_check(
    estate: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = _routed_estate() if estate == "routed" else request.getfixturevalue(estate)
    whole = _judged(inv, 10**9, monkeypatch)
    assert _judged(inv, 1, monkeypatch) == whole
    assert _judged(inv, 7, monkeypatch) == whole
    grouped = frozenset().union(*rules_package.BY_VNET.values())
    if estate in ("tenant", "demo"):
        # the rules that run in groups found something to compare, and passed something
        assert {f["rule_id"] for f in whole[0]} & grouped
        assert {rule_id for rule_id, _ in whole[1]} & grouped


def test_a_released_router_keeps_its_layers_and_answers_alike() -> None:
    ctx = Context(_routed_estate(), **REGIONS)
    router = routes.shared_router(ctx)
    case = subnet_cases(ctx)[0]
    table = ctx.index.route_tables[ids.key(case.subnet.route_table_id)]
    before = router.routes(case.vnet, case.subnet, table)
    layers, endpoints = dict(router._layers), dict(router._endpoints)
    assert layers and endpoints
    router.release()
    assert not (router._tables or router._contents or router._bases or router._vnets or router._subnets)
    after = router.routes(case.vnet, case.subnet, table)
    assert after is not before and after.routes() == before.routes()
    assert router._layers == layers and all(router._layers[k] is v for k, v in layers.items())
    assert all(router._endpoints[k] is v for k, v in endpoints.items())


# --- the end of the analysis -----------------------------------------------------------------------


_RULES = ("NET-FORCED-TUNNEL", "VM-NAME", "ASR-AGENT")
_FINDING = st.builds(
    lambda rule_id, severity, name, key: Finding(
        rule_id=rule_id,
        title="t",
        severity=severity,
        status="fail",
        subscription_id="s",
        resource_id=f"/subscriptions/s/resourceGroups/rg/providers/X/{name}",
        resource_type=None,
        region=None,
        message="m",
        remediation="r",
        docs="d",
        key=key,
    ),
    st.sampled_from(_RULES),
    st.sampled_from(list(Severity)),
    st.text("aAbB", max_size=3),
    st.sampled_from(["", "k1", "K1"]),
)


@given(st.lists(_FINDING, max_size=40))
def test_findings_sorted_per_severity_and_rule_come_in_the_order_of_one_sort(findings: list[Finding]) -> None:
    expected = sorted(findings, key=lambda f: (-f.severity.rank, f.rule_id, f.resource_id.lower(), f.key))
    got = rules_package._worst_first(list(findings))
    assert [id(f) for f in got] == [id(f) for f in expected]  # ties keep their order, as a stable sort


def test_findings_share_one_copy_of_each_subscription_and_region() -> None:
    meta = next(iter(default_catalog())).meta
    rid = "/subscriptions/AbC/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
    a, b = (meta.finding(resource_id=rid + n, message="m", region="West US") for n in ("1", "2"))
    assert a.subscription_id == "abc" and a.subscription_id is b.subscription_id
    assert a.region == "westus" and a.region is b.region
    assert meta.finding(resource_id=rid, message="m").region is None
