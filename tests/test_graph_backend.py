"""The Azure Resource Graph backend against the fake ARM: parity with the ARM backend, gaps,
paging, batching, the quota, and what it saves in requests."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from conftest import SCENARIOS_DIR
from fakearm import FakeArm, GraphQuota, Scenario, SubscriptionInfo
from record_cassettes import scenario_request
from test_replay import _comparable
from test_scenarios import _signature

from asr_audit.access.credential import StaticTokenCredential
from asr_audit.access.policies import RetrySettings
from asr_audit.app import runner
from asr_audit.app.cli import main
from asr_audit.collect import ScanRequest, choose_backend, scan
from asr_audit.collect.graph_queries import GraphLimits, resets_after
from asr_audit.inventory import Inventory

SCENARIOS = ["api-examples", "broken", "healthy"]
# The ARM fake splits api-examples' four VM examples, which share one id, over two pages at
# page size 2, and ARM paging then stops on a page of repeats (test_collect_fakearm): a paging
# artefact of that size, not of the estate. At 10 a page both backends keep the one VM.
PAGE_SIZE = {"api-examples": 10, "broken": 2, "healthy": 2}
BROKEN_SUBS = ["5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d", "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"]


# Short waits between retries: the failures tested here stay failures, and waiting them out at
# the real backoff would only slow the suite.
QUICK = RetrySettings(retry_after_cap=0.05, retry_total=2, backoff_factor=0.01, backoff_max=0.02)


def _scan(arm: FakeArm, request: ScanRequest) -> Inventory:
    return scan(request, StaticTokenCredential(arm.token), retry=QUICK)


def _graph(request: ScanRequest, **limits: int) -> ScanRequest:
    return dataclasses.replace(request, backend="graph", graph_limits=GraphLimits(**limits))


def _findings(inventory: Inventory, arm: FakeArm) -> list[tuple[str, str, str, str]]:
    report = runner.audit(inventory, cloud=scenario_request(arm, arm.url).cloud)
    return sorted(_signature(f) for f in report.findings)


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("limits", [{}, {"batch_size": 1, "page_size": 1}], ids=["default", "tiny"])
def test_both_backends_build_the_same_inventory_findings_and_coverage(
    name: str, limits: dict[str, int], fake_arm: Callable[..., FakeArm]
) -> None:
    """Tiny limits: one subscription per query and one row per page, so every query is batched
    and paged."""
    arm = fake_arm(name, page_size=PAGE_SIZE[name])
    request = scenario_request(arm, arm.url, concurrency=4)
    by_arm = _scan(arm, request)
    by_graph = _scan(arm, _graph(request, **limits))
    assert _comparable(by_graph) == _comparable(by_arm)
    assert _findings(by_graph, arm) == _findings(by_arm, arm)
    assert arm.graph_queries  # the graph scan did ask Resource Graph
    if limits:
        assert max(q.skip for q in arm.graph_queries) > 0  # it followed $skipToken
        assert {len(q.subscriptions) for q in arm.graph_queries} == {1}


def test_graph_backend_on_the_demo_estate_gives_the_demos_findings(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI, `--backend graph`, on the broken scenario served live: the findings of
    expected.yaml, the deliberate 403 on route tables still a gap of that subscription only."""
    arm = fake_arm("broken")
    monkeypatch.setenv("ASR_AUDIT_ACCESS_TOKEN", arm.token)
    monkeypatch.setenv("ASR_AUDIT_ARM_ENDPOINT", arm.url)
    code = main(
        ["--backend", "graph", "--all-subscriptions", "--output", "json", "--quiet", "--fail-on", "none"]
    )
    report = json.loads(capsys.readouterr().out)
    expected = yaml.safe_load((SCENARIOS_DIR / "broken" / "expected.yaml").read_text(encoding="utf-8"))
    assert sorted(_signature(f) for f in report["findings"]) == sorted(
        _signature(e) for e in expected["findings"]
    )
    gaps = [
        (c["subscription_id"], c["collector"], c["status"]) for c in report["coverage"] if c["status"] != "ok"
    ]
    assert gaps == [(BROKEN_SUBS[0], "route_tables", "forbidden")]
    assert code == 4  # the gap makes the scan incomplete, as with ARM
    assert any(r.method == "POST" for r in arm.requests)
    assert {r.method for r in arm.requests} == {"GET", "POST"}


def test_a_failed_query_is_a_gap_of_that_collector_in_each_subscription(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    arm.add_fault("ResourceGraph", 500, query="microsoft.network/virtualnetworks'")
    inventory = _scan(arm, _graph(scenario_request(arm, arm.url, concurrency=4)))
    vnets = sorted(
        (c.subscription_id, c.status) for c in inventory.coverage if c.collector == "virtual_networks"
    )
    assert vnets == [(sub, "error") for sub in sorted(BROKEN_SUBS)]
    assert not inventory.virtual_networks
    assert any(
        "HTTP 500" in (c.detail or "") for c in inventory.coverage if c.collector == "virtual_networks"
    )
    assert inventory.network_security_groups  # the other queries still read


def test_a_refused_batch_is_split_so_one_subscription_keeps_its_own_gap(
    fake_arm: Callable[..., FakeArm],
) -> None:
    arm = fake_arm("broken")
    inventory = _scan(arm, _graph(scenario_request(arm, arm.url)))
    route = {c.subscription_id: c.status for c in inventory.coverage if c.collector == "route_tables"}
    assert route == {BROKEN_SUBS[0]: "forbidden", BROKEN_SUBS[1]: "ok"}
    route_queries = [q.subscriptions for q in arm.graph_queries if q.type.endswith("/routetables")]
    assert route_queries == [[BROKEN_SUBS[1]]]  # the refused pair was asked again half by half


def _many(count: int, per_sub: int = 1) -> Scenario:
    """`count` small subscriptions: a VNet, an NSG, a NIC, a VM, a disk and a storage account each."""
    subs = [SubscriptionInfo(f"{i:08x}-0000-4000-8000-000000000000", f"sub {i}", "t") for i in range(count)]
    resources: dict[str, list[dict[str, Any]]] = {}
    for sub in subs:
        group = f"/subscriptions/{sub.id}/resourceGroups/rg"
        for stem, provider in [
            ("virtualNetworks", "Microsoft.Network/virtualNetworks"),
            ("networkSecurityGroups", "Microsoft.Network/networkSecurityGroups"),
            ("networkInterfaces", "Microsoft.Network/networkInterfaces"),
            ("virtualMachines", "Microsoft.Compute/virtualMachines"),
            ("disks", "Microsoft.Compute/disks"),
            ("storageAccounts", "Microsoft.Storage/storageAccounts"),
        ]:
            for n in range(per_sub):
                body = {"id": f"{group}/providers/{provider}/r{n}", "name": f"r{n}", "location": "eastus"}
                resources.setdefault(stem, []).append({**body, "properties": {}})
    return Scenario(subscriptions=subs, resources=resources, regions=["eastus"])


def _requests(arm: FakeArm, request: ScanRequest) -> tuple[int, Inventory]:
    before = len(arm.requests)
    inventory = _scan(arm, request)
    return len(arm.requests) - before, inventory


def test_request_count_graph_versus_arm(fake_arm: Callable[..., FakeArm]) -> None:
    """Issue 10's target, ≤ 1/20 of ARM's requests on 1,000 subscriptions, measured on 100
    subscriptions with a batch of 25 (the same shape: ARM's count grows by 19 a subscription,
    graph's by 22 queries a batch) and on 1,000 with ARG's own batch of 1,000."""
    arm = fake_arm(_many(100), page_size=1000)
    base = ScanRequest([], scenario_request(arm, arm.url).cloud, concurrency=16, regions=["eastus"])
    request = dataclasses.replace(base, all_subscriptions=True)
    arm_count, by_arm = _requests(arm, request)
    graph_count, by_graph = _requests(arm, _graph(request, batch_size=25))
    assert _comparable(by_graph) == _comparable(by_arm)
    assert arm_count == 1 + 100 * 19 + 1  # subscription list, 1 check + 18 lists each, service tags
    assert graph_count == 1 + 4 * 22 + 1  # subscription list, 22 queries per batch, service tags
    assert graph_count * 20 <= arm_count


def test_request_count_on_a_thousand_subscriptions(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm(_many(1000), page_size=1000)
    request = ScanRequest([], scenario_request(arm, arm.url).cloud, all_subscriptions=True, backend="graph")
    graph_count, inventory = _requests(arm, request)
    assert len(inventory.subscriptions) == 1000 and len(inventory.virtual_machines) == 1000
    assert graph_count == 1 + 22 + 1  # one batch of 1,000; ARM would send 1 + 19,000 + 1
    assert graph_count * 20 <= 1 + 1000 * 19 + 1


def test_the_quota_headers_make_queries_wait_for_the_reset(fake_arm: Callable[..., FakeArm]) -> None:
    """With 8 queries per second, the 22 queries of a scan wait for reset windows instead of
    drawing a 429."""
    arm = fake_arm("healthy", graph_quota=GraphQuota(limit=8, window=1.0))
    inventory = _scan(arm, _graph(scenario_request(arm, arm.url, concurrency=16)))
    assert all(c.status == "ok" for c in inventory.coverage)
    graph_posts = [r for r in arm.requests if r.method == "POST"]
    # none refused for the quota: the one extra POST is the scenario's own 429 on storage accounts
    assert len(graph_posts) == len(arm.graph_queries) + 1


def test_a_quota_reset_past_the_deadline_is_a_timeout_gap(fake_arm: Callable[..., FakeArm]) -> None:
    arm = fake_arm("healthy", graph_quota=GraphQuota(limit=3, window=3600.0))
    request = dataclasses.replace(_graph(scenario_request(arm, arm.url, concurrency=1)), deadline=5.0)
    inventory = _scan(arm, request)
    statuses = {c.status for c in inventory.coverage if c.kind != "subscription"}
    assert "timeout" in statuses and len(arm.graph_queries) == 3


def test_auto_picks_graph_for_tenant_scale_scopes() -> None:
    cloud = ScanRequest([], None).cloud  # type: ignore[arg-type]
    ids = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(21)]
    assert choose_backend(ScanRequest(ids[:20], cloud, backend="auto")) == "arm"
    assert choose_backend(ScanRequest(ids, cloud, backend="auto")) == "graph"
    assert choose_backend(ScanRequest([], cloud, backend="auto", all_subscriptions=True)) == "graph"
    assert choose_backend(ScanRequest([], cloud, backend="auto", management_groups=["mg"])) == "graph"
    assert choose_backend(ScanRequest(ids, cloud)) == "arm"  # the default stays ARM
    with pytest.raises(ValueError, match="unknown backend"):
        choose_backend(ScanRequest(ids, cloud, backend="sql"))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("00:00:03", 3.0), ("01:02:03", 3723.0), ("00:00:00.5", 0.5), ("3", None), (None, None)],
)
def test_resets_after_reads_arg_durations(value: str | None, seconds: float | None) -> None:
    assert resets_after(value) == seconds


def test_backend_flag_is_refused_with_a_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--backend", "graph", "--snapshot", "x.json"]) == 2
    assert "--backend" in capsys.readouterr().err
