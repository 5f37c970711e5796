"""`--source-region` / `--target-region` are checked against the cloud's regions: a typo audited
nothing and exited 0. Any well-formed name is accepted with `--arm-endpoint` (Azure Stack Hub and
custom clouds name their own regions); a snapshot is checked against its own cloud and the
locations its resources are in."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from asr_audit import collect
from asr_audit.access import credential as auth
from asr_audit.access.clouds import CLOUDS, regions, unknown_region
from asr_audit.app.cli import main
from asr_audit.inventory import (
    SERVICE_TAGS,
    SUBSCRIPTION_COLLECTORS,
    Coverage,
    Inventory,
    Subscription,
    VirtualNetwork,
)

SUB = "7b1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[collect.ScanRequest]:
    """`collect.scan` recording its requests; a region error must come before any of them."""
    requests: list[collect.ScanRequest] = []

    def scan(request: collect.ScanRequest, credential: Any, progress: Any = None) -> Inventory:
        requests.append(request)
        sub = Subscription(SUB)
        coverage = [Coverage(SUB, c, "ok") for c in (*SUBSCRIPTION_COLLECTORS, SERVICE_TAGS)]
        return Inventory(subscriptions=[sub], coverage=coverage)

    monkeypatch.setattr(auth, "make_credential", lambda cloud: object())
    monkeypatch.setattr(collect, "scan", scan)
    monkeypatch.delenv("ASR_AUDIT_ARM_ENDPOINT", raising=False)
    return requests


# --- the data file ---------------------------------------------------------------------------------


def test_the_region_file_names_its_sources_and_covers_the_three_clouds() -> None:
    doc = json.loads(resources.files("asr_audit").joinpath("data", "regions.json").read_text("utf-8"))
    assert set(doc["clouds"]) == set(CLOUDS) == set(doc["sources"])
    for cloud, names in doc["clouds"].items():
        assert doc["sources"][cloud]["url"].startswith("https://")
        assert names == sorted(set(names)), cloud
        assert all(re.fullmatch(r"[a-z][a-z0-9]+", n) for n in names), cloud
    public = regions("AzureCloud")
    for name in ("eastus", "eastus2", "westus3", "westeurope", "swedencentral", "polandcentral",
                 "italynorth", "spaincentral", "mexicocentral", "israelcentral", "qatarcentral"):  # fmt: skip
        assert name in public
    assert {"chinanorth3", "chinaeast2"} <= regions("AzureChinaCloud")
    assert {"usgovvirginia", "usgovarizona", "usdodeast"} <= regions("AzureUSGovernment")
    assert not public & regions("AzureChinaCloud") and not public & regions("AzureUSGovernment")


def test_unknown_region_suggests_the_closest_names() -> None:
    message = unknown_region("westus4", "AzureCloud")
    assert message is not None
    assert message.startswith("unknown region 'westus4' for AzureCloud; did you mean westus")
    assert "(regions: australiacentral, " in message
    assert unknown_region("westus3", "AzureCloud") is None
    assert unknown_region("local", "AzureCloud", also={"local"}) is None
    assert unknown_region("anything", "SomeCustomCloud") is None  # no list: nothing to check against


# --- the command line --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--source-region", "mars"], "--source-region"),
        (["--source-region", "westeurope", "--target-region", "West US 4"], "--target-region"),
        (["--cloud", "AzureChinaCloud", "--source-region", "eastus"], "--source-region"),
    ],
)
def test_an_unknown_region_is_exit_2_before_the_scan(
    scans: list[Any], capsys: pytest.CaptureFixture[str], argv: list[str], flag: str
) -> None:
    code, out, err = run(capsys, "--subscription", SUB, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"asr-audit: error: {flag}: unknown region ")
    assert scans == []


def test_a_typo_gets_a_suggestion(scans: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "--subscription", SUB, "--source-region", "westeurop")
    assert "did you mean westeurope?" in err


def test_known_regions_of_each_cloud_are_accepted(
    scans: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    for cloud, source, target in (
        ("AzureCloud", "Sweden Central", "polandcentral"),
        ("AzureChinaCloud", "chinanorth3", "China East 2"),
        ("AzureUSGovernment", "usgovvirginia", "usgovtexas"),
    ):
        code, _, err = run(
            capsys, "--subscription", SUB, "--cloud", cloud, "--source-region", source,
            "--target-region", target, "--quiet",
        )  # fmt: skip
        assert code == 0, err
    assert len(scans) == 3


def test_another_arm_endpoint_accepts_any_well_formed_region(
    scans: list[Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(
        capsys, "--subscription", SUB, "--arm-endpoint", "https://management.local.azurestack.external",
        "--source-region", "local", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    monkeypatch.setenv("ASR_AUDIT_ARM_ENDPOINT", "https://127.0.0.1:8443")
    assert run(capsys, "--subscription", SUB, "--source-region", "westus4", "--quiet")[0] == 0
    assert [r.regions for r in scans] == [["local"], ["westus4"]]


def test_demo_checks_regions_too(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from asr_audit.app import replay

    calls: list[Any] = []
    monkeypatch.setattr(replay, "replay_scan", lambda *a: calls.append(a))
    code, _, err = run(capsys, "demo", "--source-region", "eastus9")
    assert code == 2 and "unknown region 'eastus9'" in err and calls == []


def snapshot(tmp_path: Path, cloud: str, location: str) -> str:
    vnet = VirtualNetwork(id=f"/subscriptions/{SUB}/x/vnet", name="vnet", location=location)
    inventory = Inventory(
        cloud=cloud,
        subscriptions=[Subscription(SUB)],
        coverage=[Coverage(SUB, c, "ok") for c in (*SUBSCRIPTION_COLLECTORS, SERVICE_TAGS)],
        virtual_networks=[vnet],
    )
    path = tmp_path / "snap.json"
    inventory.save(path)
    return str(path)


def test_a_snapshot_is_checked_against_its_own_cloud(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = snapshot(tmp_path, "AzureChinaCloud", "chinanorth3")
    code, _, err = run(capsys, "--snapshot", path, "--source-region", "westeurope")
    assert code == 2 and "unknown region 'westeurope' for AzureChinaCloud" in err
    assert run(capsys, "--snapshot", path, "--source-region", "chinaeast3", "--quiet")[0] == 0


def test_a_snapshot_accepts_the_locations_its_resources_are_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An Azure Stack Hub scan is saved as AzureCloud with its own region names."""
    path = snapshot(tmp_path, "AzureCloud", "local")
    assert run(capsys, "--snapshot", path, "--source-region", "local", "--quiet")[0] == 0
    assert run(capsys, "--snapshot", path, "--source-region", "mars", "--quiet")[0] == 2
