"""Fail closed on URLs and tokens (DESIGN.md §8.2): a URL built from data stays on the ARM
endpoint or is refused before anything is sent, and a token that cannot go into a header
as it is never leaves the process, nor shows up in any output.

"Another host" is a second fake ARM on another port, trusted like the first, so a request
that wrongly went there would be served and logged.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakearm import FakeArm, Scenario, SubscriptionInfo
from test_collect_scan import coverage, fake_arm, run
from test_collect_transport import ok

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import TOKEN_ENV, check_token, make_credential
from asr_audit.access.policies import RetrySettings
from asr_audit.app.cli import main
from asr_audit.collect import ScanRequest, scan, urls
from asr_audit.errors import AuthError

SUB = "7d3e1f20-4a5b-4c6d-8e7f-901a2b3c4d5e"
QUICK = RetrySettings(retry_after_cap=0.01, retry_total=1, backoff_factor=0.001, backoff_max=0.01)
NET = "/providers/Microsoft.Network/firewallPolicies/fwp"
VAULT = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/x"


def _estate(elsewhere: str) -> Scenario:
    """A vault and a firewall policy whose ids are absolute URLs on `elsewhere`."""
    vault_id = f"{elsewhere}{VAULT}"
    policy_id = f"{elsewhere}/subscriptions/{SUB}/resourceGroups/rg{NET}"
    vault = {"id": vault_id, "name": "x", "location": "westeurope", "properties": {}}
    policy = {"id": policy_id, "name": "fwp", "location": "westeurope", "properties": {}}
    return Scenario(
        subscriptions=[SubscriptionInfo(SUB, "Prod", "00000000-0000-0000-0000-000000000000")],
        resources={"vaults": [vault], "firewallPolicies": [policy]},
    )


def test_ids_that_are_urls_on_another_host_are_refused_and_listed_as_gaps(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = fake_arm(Scenario())
    arm = fake_arm(_estate(other.url))
    both = tmp_path / "both.pem"
    both.write_text(Path(arm.ca_bundle).read_text() + Path(other.ca_bundle).read_text())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(both))
    monkeypatch.setenv("SSL_CERT_FILE", str(both))
    monkeypatch.setenv(TOKEN_ENV, "test-token")
    cloud = CLOUDS["AzureCloud"].with_arm_endpoint(arm.url)
    inventory = scan(ScanRequest([SUB], cloud, concurrency=4), make_credential(cloud), retry=QUICK)

    assert other.requests == []  # no request, so no bearer token, went to the other host
    gaps = {c.collector: c for c in inventory.coverage if c.status != "ok" and c.collector != "service_tags"}
    vault_reads = (
        "vault",
        "protected_items",
        "network_mappings",
        "protection_container_mappings",
        "replication_policies",
    )
    per_vault = {f"{c}:x" for c in vault_reads}
    assert set(gaps) == per_vault | {"rule_collection_groups:fwp"}
    for gap in gaps.values():
        assert gap.status == "error"
        assert (gap.detail or "").startswith("refused to request a URL built from data: ")
        assert "not an ARM resource path" in (gap.detail or "")
    assert gaps["vault:x"].object_id == f"{other.url}{VAULT}"
    assert [v.name for v in inventory.vaults] == ["x"]  # the listed view stays, as for any failed GET


def test_a_vault_id_that_climbs_out_of_its_path_is_refused_before_sending() -> None:
    climbing = f"/subscriptions/{SUB}/../../providers/Microsoft.RecoveryServices/vaults/x"
    transport = fake_arm((SUB, "Prod"))
    listed = {"id": climbing, "name": "x", "location": "westeurope"}
    transport.add("GET", r"RecoveryServices/vaults\?", ok({"value": [listed]}))
    inventory = run(transport, SUB)
    assert transport.urls(r"/\.\./") == [] and transport.urls(r"vaults/x") == []
    vault = coverage(inventory, "vault:x", SUB)
    assert vault.status == "error" and "'.' or '..' segment" in (vault.detail or "")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("https://evil.example/subscriptions/s/vaults/v", "does not start with '/' (it has a scheme)"),
        ("//evil.example/subscriptions/s", "contains '//'"),
        ("/subscriptions/s//vaults/v", "contains '//'"),
        ("/subscriptions/s/./vaults/v", "'.' or '..' segment"),
        ("/subscriptions/s/../x", "'.' or '..' segment"),
        ("/subscriptions/s\\..\\x", "a backslash"),
        ("/subscriptions/s@evil.example/x", "'@'"),
        ("/subscriptions/s?x=1", "'?'"),
        ("/subscriptions/s#x", "'#'"),
        ("/subscriptions/s\r\nHost: evil", "whitespace or control"),
        ("/subscriptions/s x", "whitespace or control"),
        ("/subscriptions/s/%2e%2e/x", "percent-encoded"),
        ("/subscriptions/s%2F..%2Fx", "percent-encoded"),
        ("", "not an ARM resource path"),
        (None, "not an ARM resource path"),
    ],
)
def test_data_ids_must_be_plain_arm_paths(value: Any, why: str) -> None:
    with pytest.raises(urls.RefusedUrl, match=r"^refused to request a URL built from data: ") as refused:
        urls.resource_id(value, "vault id")
    assert why in str(refused.value)
    assert "\n" not in str(refused.value) and "\r" not in str(refused.value)


def test_every_character_a_url_cannot_hold_is_refused_and_no_other() -> None:
    """ASCII takes a shortcut (`isprintable`); the refusals must be those of the per-character
    rule: whitespace, and control, format and unassigned characters (category C). Checked for
    ASCII, Latin-1 and the punctuation and format blocks (U+2000-U+206F, U+FEFF), where the
    shortcut and the rule could part."""
    chars = [*map(chr, range(0x250)), *map(chr, range(0x2000, 0x2070)), "\ufeff", "\u3000"]
    for char in chars:
        expected = char.isspace() or unicodedata.category(char)[0] == "C"
        problem = None
        try:
            urls.resource_id(f"{VAULT}/x{char}y", "vault id")
        except urls.RefusedUrl as refused:
            problem = str(refused)
        assert ("whitespace or control" in (problem or "")) is expected, (hex(ord(char)), problem)


def test_a_plain_id_passes_without_its_trailing_slash() -> None:
    assert urls.resource_id(VAULT + "/", "vault id") == VAULT


@pytest.mark.parametrize("name", [".", "..", "a/b", "a\\b", "a%2fb", "a\x00b", ""])
def test_names_from_data_must_be_single_segments(name: str) -> None:
    with pytest.raises(urls.RefusedUrl):
        urls.segment(name, "resource group name")


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("https://management.azure.com:8443/subscriptions/s?$skiptoken=1", "another host"),
        ("http://management.azure.com/subscriptions/s?$skiptoken=1", "another host"),
        ("https://user@management.azure.com/subscriptions/s", "another host"),
        ("https://management.azure.com/subscriptions/s/../../x", "'.' or '..' segment"),
        ("https://management.azure.com/subscriptions/s?x=\r\n", "control"),
    ],
)
def test_next_links_must_stay_on_the_endpoint(link: str, why: str) -> None:
    with pytest.raises(urls.RefusedUrl, match=why):
        urls.next_link(link, "https://management.azure.com")


def test_a_next_link_on_the_endpoint_with_its_default_port_is_followed() -> None:
    link = "https://Management.Azure.com:443/subscriptions/s?$skiptoken=a%2Fb"
    assert urls.next_link(link, "https://management.azure.com") == link


# --- tokens -----------------------------------------------------------------------------------------

SECRET = "eyJhbGciOiJub25lIn0.c2VjcmV0LXBheWxvYWQ"  # looks like a JWT, so scrubbing alone would hide it
BAD_TOKENS = [
    (f"{SECRET}\r\nX-Injected: 1", "contains a line break"),
    (f"{SECRET}\nmore", "contains a line break"),
    (f"{SECRET}\x1btail", "contains control characters"),
    (f"{SECRET} tail", "contains whitespace"),
]


@pytest.mark.parametrize(("token", "why"), [*BAD_TOKENS, (f"{SECRET}\x00tail", "contains a NUL character")])
def test_bad_tokens_are_refused_without_being_shown(token: str, why: str) -> None:
    """(An environment variable cannot hold NUL; a credential's token can.)"""
    with pytest.raises(AuthError, match=f"^the access token from {TOKEN_ENV} {why}") as refused:
        check_token(token, TOKEN_ENV)
    assert "c2VjcmV0" not in str(refused.value) and "tail" not in str(refused.value)


@pytest.mark.parametrize(("token", "why"), BAD_TOKENS)
def test_a_token_with_control_characters_is_exit_3_before_any_request(
    fake_arm: Callable[..., FakeArm],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    token: str,
    why: str,
) -> None:
    arm = fake_arm("healthy", token=token)
    monkeypatch.setenv(TOKEN_ENV, token)
    snapshot = tmp_path / "snap.json"
    argv = ["--subscription", SUB, "--arm-endpoint", arm.url, "--output", "json"]
    code = main([*argv, "--save-snapshot", str(snapshot), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 3
    assert arm.requests == []
    assert f"{TOKEN_ENV} {why}" in err and err.count("\n") == 1
    written = snapshot.read_text() if snapshot.exists() else ""
    for text in (out, err, written):
        assert "c2VjcmV0LXBheWxvYWQ" not in text and "tail" not in text and "more" not in text


def test_a_token_from_a_credential_is_checked_too() -> None:
    class Mangled:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken(f"{SECRET}\r\n", 4_102_444_800)

    from asr_audit.access.credential import _OneLineErrors

    transport = fake_arm((SUB, "Prod"))
    with pytest.raises(AuthError, match="contains a line break") as refused:
        run(transport, SUB, credential=_OneLineErrors(Mangled()))
    assert SECRET not in str(refused.value)
    assert transport.requests == []


def test_outer_whitespace_of_the_env_token_is_not_its_content() -> None:
    assert check_token("abc.def", TOKEN_ENV) == "abc.def"


def test_a_token_echoed_by_the_server_is_scrubbed_from_coverage() -> None:
    transport = fake_arm((SUB, "Prod"))
    echo = {"error": {"code": "BadRequest", "message": f"header was Authorization: Bearer {SECRET}"}}
    transport.add("GET", "routeTables", (400, echo, {}))
    inventory = run(transport, SUB)
    routes = coverage(inventory, "route_tables", SUB)
    assert routes.status == "error" and "[redacted]" in (routes.detail or "")
    assert SECRET not in (routes.detail or "")
