"""`scan()` against the loopback HTTPS fake ARM: real sockets, TLS, paging and faults.

The fake ARM is pointed at exactly as a user points the tool at Azure Stack or a private
endpoint (`--arm-endpoint`): a CloudProfile with another ARM URL, TLS trust from
REQUESTS_CA_BUNDLE, and a pre-acquired token in ASR_AUDIT_ACCESS_TOKEN.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SCENARIOS_DIR
from fakearm import FakeArm
from test_collect_transport import FAST
from test_replay import _comparable

from asr_audit.access import clients
from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import TOKEN_ENV, make_credential
from asr_audit.collect import ScanRequest, scan
from asr_audit.errors import AuthError
from asr_audit.inventory import Inventory

EXAMPLES = SCENARIOS_DIR / "api-examples"
NETWORK_SUB = "00000000-0000-0000-0000-000000000000"
ALL_SUBS = [
    NETWORK_SUB,
    "examples-vaults",
    "c183865e-6077-46f2-a3b1-deb0f4f4650a",
    "9112a37f-0f3e-46ec-9c00-060c6edca071",
]


def scan_fake(
    arm: FakeArm, monkeypatch: pytest.MonkeyPatch, subs: list[str], token: str = "test-token"
) -> Inventory:
    monkeypatch.setenv(TOKEN_ENV, token)
    cloud = CLOUDS["AzureCloud"].with_arm_endpoint(arm.url)
    request = ScanRequest(subs, cloud, concurrency=4, regions=["westus"])
    return scan(request, make_credential(cloud), retry=FAST)


def file_count(stem: str) -> int:
    """Distinct ids: a list keeps each item once (the VM examples repeat one placeholder id)."""
    items = json.loads((EXAMPLES / "resources" / f"{stem}.json").read_text(encoding="utf-8"))
    return len({item["id"].lower() for item in items})


def test_upstream_examples_are_collected_completely(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples", page_size=2)
    inventory = scan_fake(arm, monkeypatch, ALL_SUBS)
    gaps = [(c.collector, c.status, c.detail) for c in inventory.coverage if c.status != "ok" or c.detail]
    # four VM examples share one id: page 2 (two items) holds nothing new, so paging stops there
    assert gaps == [("virtual_machines", "error", "paging stopped: page 2 repeats items already listed")]
    assert len(inventory.subscriptions) == 4
    counts = {
        "vaults": "vaults",
        "storage_accounts": "storageAccounts",
        "virtual_networks": "virtualNetworks",
        "network_security_groups": "networkSecurityGroups",
        "route_tables": "routeTables",
        "express_route_circuits": "expressRouteCircuits",
        "virtual_network_gateways": "virtualNetworkGateways",
        "connections": "connections",
        "azure_firewalls": "azureFirewalls",
        "virtual_machines": "virtualMachines",
        "disks": "disks",
        "disk_encryption_sets": "diskEncryptionSets",
        "protected_items": "replicationProtectedItems",
        "network_mappings": "replicationNetworkMappings",
    }
    assert {field: len(getattr(inventory, field)) for field in counts} == {
        field: file_count(stem) for field, stem in counts.items()
    }
    assert len(inventory.service_tags) == 5
    # the vault GET filled what the list lacks
    assert any(v.public_network_access == "Enabled" for v in inventory.vaults)
    served = arm.requests
    assert {r.method for r in served} == {"GET"}
    assert any("$skiptoken" in r.query for r in served)  # storage accounts took three pages
    assert all(r.query.get("api-version") for r in served)


def test_faults_become_coverage_and_retries_recover(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples", page_size=50)
    arm.add_fault(r"/routeTables$", 429, times=1, headers={"Retry-After": "120"})
    arm.add_fault(r"/storageAccounts$", 403)
    arm.add_fault(r"/networkSecurityGroups$", 200, body="<html>proxy error</html>")
    inventory = scan_fake(arm, monkeypatch, [NETWORK_SUB])
    status = {c.collector: c.status for c in inventory.coverage}
    assert status["route_tables"] == "ok" and len(inventory.route_tables) == 2
    assert status["storage_accounts"] == "forbidden" and inventory.storage_accounts == []
    assert status["network_security_groups"] == "error"
    assert len(inventory.virtual_networks) == file_count("virtualNetworks")
    assert sum(1 for r in arm.requests if r.path.endswith("/routeTables")) == 2


def test_wrong_token_is_an_auth_error(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples")
    with pytest.raises(AuthError, match="rejected the token"):
        scan_fake(arm, monkeypatch, [NETWORK_SUB], token="stale-token")
    assert all(r.path == f"/subscriptions/{NETWORK_SUB}" for r in arm.requests)


def test_untrusted_certificate_on_every_subscription_is_an_auth_error(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples")
    bundle = arm.ca_bundle
    other = FakeArm(EXAMPLES).start()  # a different throw-away CA
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", other.ca_bundle)
        monkeypatch.setenv("SSL_CERT_FILE", other.ca_bundle)
        with pytest.raises(AuthError, match="no requested subscription could be read") as error:
            scan_fake(arm, monkeypatch, [NETWORK_SUB])
    finally:
        other.stop()
    assert bundle != other.ca_bundle
    assert "SSL" in str(error.value) or "certificate" in str(error.value).lower()
    assert "\n" not in str(error.value)


def test_a_netrc_entry_does_not_replace_the_token(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """requests reads `~/.netrc` per request when it trusts the environment, and a `default`
    entry matches every host: the scan then sent Basic credentials (the netrc password) instead
    of the bearer token, and ARM refused every read."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login someone password netrc-secret\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    arm = fake_arm("api-examples")
    inventory = scan_fake(arm, monkeypatch, [NETWORK_SUB])
    assert [s.id for s in inventory.subscriptions] == [NETWORK_SUB]
    assert inventory.virtual_networks
    assert not [c for c in inventory.coverage if c.status == "forbidden"]


def test_bodies_are_read_in_blocks_of_64_kib(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every body is read through azure-core's stream, requests and urllib3 one block at a time; at
    azure-core's default of 4 KiB a large page took hundreds of reads through those layers."""
    asked: list[int | None] = []
    iter_content = requests.Response.iter_content

    def recorded(self: requests.Response, chunk_size: int | None = 1, decode_unicode: bool = False) -> Any:
        asked.append(chunk_size)
        return iter_content(self, chunk_size, decode_unicode)

    monkeypatch.setattr(requests.Response, "iter_content", recorded)
    inventory = scan_fake(fake_arm("api-examples"), monkeypatch, [NETWORK_SUB])
    assert inventory.virtual_networks
    assert asked and set(asked) == {clients.READ_BLOCK_BYTES} and clients.READ_BLOCK_BYTES == 65536


def test_the_proxy_comes_from_the_environment_and_no_proxy_is_honoured(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment is read once per scan, but still read: HTTPS_PROXY carries the requests
    (here to a closed port, so nothing is read), and NO_PROXY naming the endpoint's host
    bypasses it."""
    arm = fake_arm("api-examples")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(AuthError, match="no requested subscription could be read"):
        scan_fake(arm, monkeypatch, [NETWORK_SUB])
    assert arm.requests == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    inventory = scan_fake(arm, monkeypatch, [NETWORK_SUB])
    assert [s.id for s in inventory.subscriptions] == [NETWORK_SUB]
    assert arm.requests


def test_gzip_compressed_answers_are_read_as_the_plain_ones(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARM compresses answers for clients that accept gzip, as requests does by default: the
    bodies the scan reads must be the decoded ones (a raw read would see gzip, not JSON)."""
    plain = scan_fake(fake_arm("api-examples", page_size=2), monkeypatch, ALL_SUBS)
    arm = fake_arm("api-examples", page_size=2, gzip=True)
    squeezed = scan_fake(arm, monkeypatch, ALL_SUBS)
    assert arm.gzipped > 10
    assert _comparable(squeezed) == _comparable(plain)


def test_a_finished_scan_leaves_the_process_one_thread(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its workers and the watchdog that guards reads on real sockets are gone when it returns:
    the analysis after it forks only a process with one thread (rules/parallel.py)."""
    before = set(threading.enumerate())
    scan_fake(fake_arm("api-examples", page_size=2), monkeypatch, ALL_SUBS)
    assert [t.name for t in set(threading.enumerate()) - before if t.name.startswith("asr-audit")] == []
