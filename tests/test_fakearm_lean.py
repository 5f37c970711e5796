"""A lean scenario (`Scenario.load(..., lean=True)`): bodies kept as text, so the benchmarks can
serve a million resources. It must answer a scan exactly as the decoded scenario does, or the
collect figures it produces would be of some other tool's reads."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SCENARIOS_DIR
from fakearm import FakeArm, Scenario, ScenarioError
from record_cassettes import scenario_request
from test_graph_backend import PAGE_SIZE, SCENARIOS, _findings, _scan
from test_replay import _comparable

import bench.synth_tenant as synth
from bench.synth_tenant import SynthError, TenantShape, generated_with, resource_counts, write


def _one_body_per_line(name: str, out: Path) -> Path:
    """A copy of a shipped scenario in the layout bench/synth_tenant.py writes."""
    shutil.copytree(SCENARIOS_DIR / name, out)
    for path in (out / "resources").glob("*.json"):
        bodies = json.loads(path.read_text(encoding="utf-8"))
        lines = ",\n".join(json.dumps(body, separators=(",", ":")) for body in bodies)
        path.write_text(f"[\n{lines}\n]\n" if lines else "[\n]\n", encoding="utf-8")
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_scan_of_the_lean_fake_collects_what_the_decoded_one_serves(
    name: str, tmp_path: Path, fake_arm: Callable[..., FakeArm]
) -> None:
    """Small pages, so pages of text carry `nextLink` too; the scenario's faults and the
    per-object reads (vaults, cache accounts, protected items' containers) go through the same
    routes."""
    directory = _one_body_per_line(name, tmp_path / name)
    decoded = fake_arm(directory, page_size=PAGE_SIZE.get(name, 2))
    by_decoded = _scan(decoded, scenario_request(decoded, decoded.url, concurrency=4))
    lean = fake_arm(Scenario.load(directory, lean=True), page_size=PAGE_SIZE.get(name, 2))  # trusted now
    by_lean = _scan(lean, scenario_request(lean, lean.url, concurrency=4))
    assert _comparable(by_lean) == _comparable(by_decoded)
    assert _findings(by_lean, lean) == _findings(by_decoded, decoded)
    assert sorted((r.method, r.path) for r in lean.requests) == sorted(
        (r.method, r.path) for r in decoded.requests
    )


def test_a_lean_answer_is_the_body_as_written(tmp_path: Path, fake_arm: Callable[..., FakeArm]) -> None:
    directory = _one_body_per_line("healthy", tmp_path / "healthy")
    arm = fake_arm(Scenario.load(directory, lean=True), page_size=2)
    vault = json.loads((directory / "resources" / "vaults.json").read_text(encoding="utf-8"))[0]
    answer = requests.get(
        f"{arm.url}{vault['id']}",
        params={"api-version": "2024-04-01"},
        headers={"Authorization": f"Bearer {arm.token}"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.text == json.dumps(vault, separators=(",", ":"))  # every property, not the routed few
    assert "properties" in answer.json() and answer.json()["properties"] != {}


def test_a_lean_scenario_answers_no_resource_graph_query(
    tmp_path: Path, fake_arm: Callable[..., FakeArm]
) -> None:
    """Its bodies are text, so it has no rows: a graph scan must see gaps, never an empty estate."""
    arm = fake_arm(Scenario.load(_one_body_per_line("healthy", tmp_path / "healthy"), lean=True))
    request = scenario_request(arm, arm.url, concurrency=4)
    inventory = _scan(arm, dataclasses.replace(request, backend="graph"))
    failed = {c.collector for c in inventory.coverage if c.status != "ok"}
    assert {"virtual_networks", "network_security_groups", "vaults"} <= failed
    assert not inventory.virtual_networks
    assert any(r.method == "POST" for r in arm.requests)


def test_lean_loading_needs_one_body_per_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="one body per line"):
        Scenario.load(SCENARIOS_DIR / "healthy", lean=True)  # pretty-printed
    directory = _one_body_per_line("healthy", tmp_path / "healthy")
    vaults = directory / "resources" / "vaults.json"
    lines = vaults.read_text(encoding="utf-8").splitlines()
    vaults.write_text("\n".join([*lines[:2], '{"id": "/subscriptions/x", ', *lines[2:]]), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"vaults.json:3: not one JSON body"):
        Scenario.load(directory, lean=True)
    vaults.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # `[` and one body, no `]`
    with pytest.raises(ScenarioError, match=r"vaults.json: ends before its closing"):
        Scenario.load(directory, lean=True)


def test_the_bench_tenant_loads_lean_and_its_stamp_counts_its_files(tmp_path: Path) -> None:
    """bench/synth_tenant.py writes one subscription at a time; a complete scan is judged by the
    counts in its stamp, so they must be what the files hold."""
    counts = write(TenantShape(subscriptions=2, resources=400), tmp_path)
    decoded, lean = Scenario.load(tmp_path), Scenario.load(tmp_path, lean=True)
    assert counts == resource_counts(tmp_path)
    assert {stem: len(bodies) for stem, bodies in decoded.resources.items()} == counts
    for stem, bodies in decoded.resources.items():
        assert [json.loads(raw.text) for raw in lean.resources[stem]] == bodies  # type: ignore[attr-defined]
    assert counts["blobServices"] == counts["storageAccounts"]
    assert len({b["id"].split("/")[2] for b in decoded.resources["vaults"]}) == 2  # both subscriptions


def test_a_generation_that_fails_midway_leaves_nothing_to_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files are written as the subscriptions are built, so a failure leaves some of them: the
    stamp of the tenant that was there before must not vouch for them."""
    shape = TenantShape(subscriptions=2, resources=400)
    write(shape, tmp_path)
    assert generated_with(tmp_path) == shape
    built = synth.subscriptions

    def first_then_fail(shape: TenantShape) -> Any:
        yield next(built(shape))
        raise SynthError("the second subscription could not be built")

    monkeypatch.setattr(synth, "subscriptions", first_then_fail)
    with pytest.raises(SynthError):
        write(shape, tmp_path)
    assert generated_with(tmp_path) is None
    with pytest.raises(SynthError, match="not generated by this version"):
        resource_counts(tmp_path)


def test_the_plain_profile_is_the_tenant_issue_10_measures_its_first_target_on(tmp_path: Path) -> None:
    """4 subscriptions, 7,008 resources: 1,000 each of VNets, NSGs, route tables, NICs, VMs and
    disks, ~1,000 storage accounts, 4 vaults, nothing replicated yet; hubs without gateways, so no
    peering may claim one."""
    counts = write(TenantShape(subscriptions=4, resources=7008, profile="plain"), tmp_path)
    equal = (
        "virtualNetworks",
        "networkSecurityGroups",
        "routeTables",
        "networkInterfaces",
        "virtualMachines",
    )
    assert {stem: counts[stem] for stem in (*equal, "disks")} == dict.fromkeys((*equal, "disks"), 1000)
    assert (counts["storageAccounts"], counts["vaults"]) == (1004, 4)
    assert sum(n for stem, n in counts.items() if stem != "blobServices") == 7008
    served = Scenario.load(tmp_path)
    assert not served.resources.get("replicationProtectedItems") and not served.resources.get("connections")
    peerings = [
        p["properties"]
        for v in served.resources["virtualNetworks"]
        for p in v["properties"]["virtualNetworkPeerings"]
    ]
    assert peerings and not any(p["useRemoteGateways"] or p["allowGatewayTransit"] for p in peerings)
    hops = {
        r["properties"].get("nextHopIpAddress")
        for t in served.resources["routeTables"]
        for r in t["properties"]["routes"]
    }
    assert "FIREWALL" not in hops and len(hops - {None}) == 8  # each subscription's hub appliance per region


def test_the_bench_tenant_offers_its_vm_sizes_with_quota_to_fail_over(tmp_path: Path) -> None:
    """Without SKUs and usages every VM read as 'not offered at all' in its recovery region (800
    of the plain tenant's 1,500 findings); a real subscription offers these sizes there."""
    write(TenantShape(subscriptions=2, resources=400), tmp_path)
    served = Scenario.load(tmp_path, lean=True)
    vms = [json.loads(raw.text) for raw in served.resources["virtualMachines"]]  # type: ignore[attr-defined]
    for sub in {vm["id"].split("/")[2].lower() for vm in vms}:
        offered = {s["name"]: s for s in served.skus[sub]}
        mine = [vm for vm in vms if vm["id"].split("/")[2].lower() == sub]
        assert {vm["properties"]["hardwareProfile"]["vmSize"] for vm in mine} <= set(offered)
        assert all(
            set(s["locations"]) == {"eastus", "westus"} and not s["restrictions"] for s in offered.values()
        )
        for region, other in (("eastus", "westus"), ("westus", "eastus")):
            cores = {u["name"]["value"]: u for u in served.usages[sub][region]}["cores"]
            vcpus = {s["name"]: int(s["capabilities"][0]["value"]) for s in offered.values()}
            running = sum(
                vcpus[vm["properties"]["hardwareProfile"]["vmSize"]]
                for vm in mine
                if vm["location"] == region
            )
            incoming = sum(
                vcpus[vm["properties"]["hardwareProfile"]["vmSize"]] for vm in mine if vm["location"] == other
            )
            assert cores["currentValue"] == running and cores["limit"] - running >= incoming > 0
