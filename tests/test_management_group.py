"""`--management-group MG`: every subscription below a management group, child groups included,
end to end against the fake ARM (tests/scenarios/broken: `mg-fabrikam` holds Connectivity and
the child group `mg-fabrikam-landingzones`, which holds Prod)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakearm import FakeArm, Scenario, ScenarioError
from fakearm.scenario import ManagementGroup

from asr_audit.app.cli import main
from asr_audit.collect import endpoints
from asr_audit.collect.fields import parse_items
from asr_audit.collect.subscriptions import descendant_subscription

PROD = "b7e4a1d9-2c3f-4e58-9a6b-1d0f8e7c5a32"
CONN = "5d2c8f1a-7e9b-4a3c-b6d4-0e1f2a3b4c5d"
UNREADABLE = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"  # below a group, but not a subscription ARM serves
ROOT, CHILD = "mg-fabrikam", "mg-fabrikam-landingzones"
BROKEN = Path(__file__).resolve().parent / "scenarios" / "broken"
DESCENDANTS = "/descendants"


@pytest.fixture
def live(fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeArm]:
    """The CLI pointed at a fake ARM, as an operator would (token and endpoint in the environment)."""

    def start(scenario: str | Scenario = "broken", **kwargs: Any) -> FakeArm:
        arm = fake_arm(scenario, **kwargs)
        monkeypatch.setenv("ASR_AUDIT_ACCESS_TOKEN", arm.token)
        monkeypatch.setenv("ASR_AUDIT_ARM_ENDPOINT", arm.url)
        return arm

    return start


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--output", "json", "--fail-on", "none", "--quiet")
    return code, json.loads(out)


def broken_with(*groups: ManagementGroup) -> Scenario:
    scenario = Scenario.load(BROKEN)
    scenario.management_groups.extend(groups)
    return scenario


# --- the parser ------------------------------------------------------------------------------------


def test_descendants_yield_the_subscriptions_and_skip_child_groups() -> None:
    """Items in the shape of the REST reference's GetDescendants example, plus the variants."""
    parent = {"id": "/providers/Microsoft.Management/managementGroups/20000000-0000-0000-0000-000000000000"}
    items = [
        {
            "name": "20000000-0001-0000-0000-000000000000",
            "type": "Microsoft.Management/managementGroups",
            "id": "/providers/Microsoft.Management/managementGroups/20000000-0001-0000-0000-000000000000",
            "properties": {"displayName": "Group 1", "parent": parent},
        },
        {
            "name": "20000000-0004-0000-0000-00000000000A",
            "type": "Microsoft.Management/managementGroups/subscriptions",
            "id": "/subscriptions/20000000-0004-0000-0000-00000000000A",
            "properties": {"displayName": "Subscription 4", "parent": parent},
        },
        {"type": "/subscriptions", "id": f"/subscriptions/{PROD}"},  # older api-versions' type, no name
        {"id": f"/Subscriptions/{CONN}"},  # no type: the id decides
        {"type": "Microsoft.Management/managementGroups/subscriptions", "name": "not-a-guid"},  # malformed
        "junk",
    ]
    found, unread = parse_items(items, descendant_subscription)
    assert found == ["20000000-0004-0000-0000-00000000000a", PROD, CONN]  # the child group is dropped
    assert unread.count == 2


def test_the_descendants_url_quotes_the_group_and_pins_the_version() -> None:
    assert endpoints.management_group_descendants("mg (prod)") == (
        "/providers/Microsoft.Management/managementGroups/mg%20%28prod%29/descendants?api-version=2020-05-01"
    )


# --- the fake ARM ----------------------------------------------------------------------------------


def test_the_fake_arm_lists_every_level_and_answers_404_for_an_unknown_group(
    live: Callable[..., FakeArm],
) -> None:
    arm = live(page_size=10)
    auth = f"Bearer {arm.token}"
    root = json.loads(arm.handle("GET", endpoints.management_group_descendants(ROOT), auth).body)
    assert [
        (d["type"], d["name"], d["properties"]["parent"]["id"].rsplit("/", 1)[1]) for d in root["value"]
    ] == [
        ("Microsoft.Management/managementGroups", CHILD, ROOT),
        ("Microsoft.Management/managementGroups/subscriptions", PROD, CHILD),
        ("Microsoft.Management/managementGroups/subscriptions", CONN, ROOT),
    ]
    assert root["value"][1]["properties"]["displayName"] == "Fabrikam Prod"
    missing = arm.handle("GET", endpoints.management_group_descendants("mg-nowhere"), auth)
    assert missing.status == 404 and json.loads(missing.body)["error"]["code"] == "NotFound"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"displayName": "no id"}, "needs an id"),
        ({"id": "mg-a", "children": [{"id": "mg-b", "subscription": []}]}, "unknown keys"),
        ({"id": "mg-a", "children": [{"id": "MG-A"}]}, "appears twice"),
    ],
)
def test_a_malformed_management_group_tree_is_a_scenario_error(
    tmp_path: Path, raw: dict[str, Any], message: str
) -> None:
    (tmp_path / "scenario.yaml").write_text(json.dumps({"managementGroups": [raw]}), encoding="utf-8")
    with pytest.raises(ScenarioError, match=message):
        Scenario.load(tmp_path)


# --- the CLI -----------------------------------------------------------------------------------------


def test_the_root_group_scans_both_subscriptions_with_gets_only(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live()
    code, doc = scan_json(capsys, "--management-group", ROOT)
    assert sorted(doc["scope"]["subscriptions"]) == sorted([PROD, CONN])
    assert {f["subscription_id"] for f in doc["findings"]} == {PROD, CONN}
    assert code == 4  # Connectivity's route-table list answers 403 in this estate: a listed gap
    assert {r.method for r in arm.requests} == {"GET"}
    listed = {(r.path, r.query["api-version"]) for r in arm.requests if r.path.endswith(DESCENDANTS)}
    assert listed == {(f"/providers/Microsoft.Management/managementGroups/{ROOT}/descendants", "2020-05-01")}


def test_a_child_group_scans_only_its_own_subscriptions(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live()
    code, doc = scan_json(capsys, "--management-group", CHILD)
    assert doc["scope"]["subscriptions"] == [PROD]
    assert code == 0  # Prod alone has no coverage gap, and --fail-on none
    assert not any(CONN in r.path for r in arm.requests)
    assert all(r.path != "/subscriptions" for r in arm.requests)  # ids need no subscription listing
    _, by_id = scan_json(capsys, "--subscription", PROD)
    assert doc["findings"] and doc["findings"] == by_id["findings"]


def test_the_portal_id_of_a_group_works_like_its_name(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live()
    _, doc = scan_json(
        capsys, "--management-group", f"/providers/Microsoft.Management/managementGroups/{CHILD}"
    )
    assert doc["scope"]["subscriptions"] == [PROD]


def test_descendants_are_followed_across_pages(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live(page_size=1)
    _, doc = scan_json(capsys, "--management-group", ROOT)
    assert sorted(doc["scope"]["subscriptions"]) == sorted([PROD, CONN])
    pages = [r for r in arm.requests if r.path.endswith(DESCENDANTS)]
    assert [r.query.get("$skiptoken") for r in pages] == [None, "1", "2"]
    assert all(r.query["api-version"] == "2020-05-01" for r in pages)


def test_repeated_groups_scan_each_subscription_once(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live()
    _, doc = scan_json(capsys, "--management-group", CHILD, "--management-group", ROOT)
    assert doc["scope"]["subscriptions"] == sorted([PROD, CONN])
    assert [r.path for r in arm.requests].count(f"/subscriptions/{PROD}") == 1


@pytest.mark.parametrize("status", [404, 403])
def test_an_unknown_or_unreadable_group_is_exit_3_in_one_line(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str], status: int
) -> None:
    arm = live()
    if status == 403:
        arm.add_fault(r"/managementGroups/mg-nowhere/descendants$", 403)
    code, out, err = run(capsys, "--management-group", "mg-nowhere")
    assert (code, out) == (3, "")
    assert err.count("\n") == 1
    assert err.startswith("asr-audit: error: management group mg-nowhere not found or not readable")
    assert f"HTTP {status}" in err
    assert not any(r.path.startswith("/subscriptions") for r in arm.requests)


def test_a_group_listing_that_fails_otherwise_is_a_one_line_usage_error(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live()
    arm.add_fault(r"/descendants$", 400)  # not retried: the answer is final at once
    code, _, err = run(capsys, "--management-group", ROOT)
    assert code == 2 and err.count("\n") == 1
    assert f"cannot list the subscriptions of management group {ROOT} (HTTP 400" in err


def test_a_group_with_only_empty_child_groups_is_nothing_to_scan(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    arm = live(
        broken_with(ManagementGroup("mg-empty", "Empty", children=[ManagementGroup("mg-void", "Void")]))
    )
    code, out, err = run(capsys, "--management-group", "mg-empty")
    assert (code, out) == (2, "")
    assert err == "asr-audit: error: no subscription under management group mg-empty: nothing to scan\n"
    assert not any(r.path.startswith("/subscriptions") for r in arm.requests)


def test_a_listed_subscription_the_credential_cannot_read_is_a_gap_not_a_failure(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live(broken_with(ManagementGroup("mg-mixed", "Mixed", subscriptions=[PROD, UNREADABLE])))
    code, doc = scan_json(capsys, "--management-group", "mg-mixed")
    assert doc["scope"]["subscriptions"] == [PROD]
    gaps = [
        (c["subscription_id"], c["collector"], c["status"]) for c in doc["coverage"] if c["status"] != "ok"
    ]
    assert gaps == [(UNREADABLE, "subscription", "not_found")]
    assert code == 4


def test_a_group_of_unreadable_subscriptions_only_is_exit_3(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live(broken_with(ManagementGroup("mg-foreign", "Foreign", subscriptions=[UNREADABLE])))
    code, _, err = run(capsys, "--management-group", "mg-foreign")
    assert code == 3 and err.count("\n") == 1 and UNREADABLE in err


@pytest.mark.parametrize(
    ("other", "clash"),
    [
        (["--all-subscriptions"], "--all-subscriptions"),
        (["--subscription", PROD], "--subscription"),
        (["--snapshot", "estate.json"], "--snapshot"),
    ],
)
def test_management_group_excludes_the_other_sources(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str], other: list[str], clash: str
) -> None:
    arm = live()
    code, out, err = run(capsys, "--management-group", ROOT, *other)
    assert (code, out) == (2, "")
    [line] = [x for x in err.splitlines() if x.startswith("asr-audit: error:")]
    assert "not allowed with argument" in line and clash in line and "--management-group" in line
    assert arm.requests == []


def test_demo_rejects_management_group(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str]
) -> None:
    live()
    code, _, err = run(capsys, "--management-group", ROOT, "demo")
    assert code == 2 and err.count("\n") == 1 and "drop --management-group" in err
    assert run(capsys, "demo", "--management-group", ROOT)[0] == 2  # not a demo option at all


@pytest.mark.parametrize(
    "value", ["Fabrikam Landing Zones", "", "/subscriptions/x/managementGroups/y", "a" * 91]
)
def test_a_value_that_is_not_a_group_id_is_refused_before_any_request(
    live: Callable[..., FakeArm], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    arm = live()
    code, _, err = run(capsys, "--management-group", value)
    assert code == 2 and "invalid management group" in err
    assert arm.requests == []
