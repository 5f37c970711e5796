"""Suppressions file: loading (with line-numbered errors), matching, expiry, unused entries."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from asr_audit.errors import UsageError
from asr_audit.findings import Finding, Severity
from asr_audit.triage.suppressions import Suppression, apply, describe_note, load

SUB = "3f2a8c1e-5b7d-4e09-9a6c-1d2e3f4a5b6c"
OTHER_SUB = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
TODAY = date(2025, 3, 1)
LATER = date(2025, 12, 31)


def rid(name: str, rg: str = "rg-app", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}"


def make(rule_id: str, resource_id: str, subscription: str = SUB) -> Finding:
    return Finding(
        rule_id=rule_id,
        title="t",
        severity=Severity.LOW,
        status="fail",
        subscription_id=subscription,
        resource_id=resource_id,
        resource_type=None,
        region=None,
        message="m",
        remediation="r",
        docs=None,
    )


def entry(
    rule: str = "*", resource: str = "*", expires: date = LATER, reason: str = "accepted", **kw: object
) -> Suppression:
    return Suppression(rule=rule, resource=resource, reason=reason, expires=expires, **kw)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suppressions.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- loading ------------------------------------------------------------------


def test_load_mapping_form(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""# accepted risks
suppressions:
  - rule: STG-CACHE-*
    resource: "*/resourceGroups/rg-dr/*"
    subscription: {SUB}
    reason: cache GRS accepted (CHG-1)
    expires: 2025-06-30
  - rule: NET-FORCED-TUNNEL
    resource: {rid("x")}
    reason: "quoted date"
    expires: "2026-01-15"
""",
    )
    first, second = load(path)
    assert first == Suppression(
        rule="STG-CACHE-*",
        resource="*/resourceGroups/rg-dr/*",
        reason="cache GRS accepted (CHG-1)",
        expires=date(2025, 6, 30),
        subscription=SUB,
        file=str(path),
        line=3,
    )
    assert second.expires == date(2026, 1, 15)
    assert second.subscription is None
    assert second.line == 8


def test_load_bare_list_and_empty_files(tmp_path: Path) -> None:
    (only,) = load(write(tmp_path, "- {rule: X, resource: '*', reason: r, expires: 2030-01-01}\n"))
    assert only.rule == "X"
    assert load(write(tmp_path, "")) == []
    assert load(write(tmp_path, "# nothing yet\n")) == []
    assert load(write(tmp_path, "suppressions:\n")) == []


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("- rule: X\n  resource: '*'\n  expires: 2030-01-01\n", 1, "missing required 'reason'"),
        ("- rule: X\n  resource: '*'\n  reason: r\n  expires: 2030-13-01\n", 4, "YYYY-MM-DD"),
        ("- rule: X\n  resource: '*'\n  reason: r\n  expires: 31/12/2030\n", 4, "YYYY-MM-DD"),
        ("- rule: X\n  resource: '*'\n  reason: r\n  expiry: 2030-01-01\n", 4, "unknown key 'expiry'"),
        ("- rule: X\n  resource: '*'\n  reason: ''\n  expires: 2030-01-01\n", 3, "'reason' is empty"),
        ("- rule: X\n  resource: '*'\n  reason:\n  expires: 2030-01-01\n", 3, "'reason' is empty"),
        ("- rule: [A, B]\n  resource: '*'\n  reason: r\n  expires: 2030-01-01\n", 1, "single value"),
        ("- rule: X\n  rule: Y\n  resource: '*'\n  reason: r\n  expires: 2030-01-01\n", 2, "duplicate"),
        ("- just a string\n", 1, "must be a mapping"),
        ("rules:\n  - rule: X\n", 1, "unknown top-level key 'rules'"),
        ("suppressions: {rule: X}\n", 1, "expected a list"),
        ("- rule: X\n  resource: '*\n  reason: r\n", 4, "quoted scalar at line 2"),
        ("- rule: X\n\tresource: '*'\n", 2, "invalid YAML"),
    ],
)
def test_invalid_file_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load(path)
    assert f"line {line}:" in str(err.value)
    assert words in str(err.value)
    assert str(path) in str(err.value)


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UsageError):
        load(path)


# --- matching -----------------------------------------------------------------


def test_rule_glob_and_exact_id() -> None:
    findings = [make("STG-CACHE-KIND", rid("a")), make("STG-LOG-PAIRING", rid("b")), make("NET-X", rid("c"))]
    apply(findings, [entry(rule="STG-CACHE-*"), entry(rule="net-x")], TODAY)
    assert [f.suppressed for f in findings] == [True, False, True]


def test_resource_glob_is_case_insensitive_and_tolerates_id_variants() -> None:
    asr_style = rid("Cache1", rg="RG-DR").replace("/subscriptions/", "/Subscriptions/")
    findings = [make("R", asr_style), make("R", rid("cache1", rg="rg-app"))]
    apply(findings, [entry(resource="*/resourcegroups/rg-dr/*")], TODAY)
    assert [f.suppressed for f in findings] == [True, False]

    exact = [make("R", asr_style)]
    apply(exact, [entry(resource=rid("cache1", rg="rg-dr").lstrip("/") + "/")], TODAY)
    assert exact[0].suppressed


def test_subscription_filter() -> None:
    ours, theirs = make("R", rid("a")), make("R", rid("a", sub=OTHER_SUB), subscription=OTHER_SUB)
    notes = apply([ours, theirs], [entry(subscription=SUB.upper())], TODAY)
    assert (ours.suppressed, theirs.suppressed) == (True, False)
    assert notes == []


def test_first_matching_entry_gives_the_reason_and_both_count_as_used() -> None:
    f = make("R", rid("a"))
    notes = apply([f], [entry(reason="first"), entry(reason="second")], TODAY)
    assert f.suppression_reason == "first"
    assert notes == []


# --- expiry and bookkeeping ---------------------------------------------------


def test_entry_suppresses_through_its_expiry_day() -> None:
    on_the_day = make("R", rid("a"))
    assert apply([on_the_day], [entry(expires=TODAY)], TODAY) == []
    assert on_the_day.suppressed


def test_expired_entry_does_not_suppress_and_is_reported() -> None:
    f = make("R", rid("a"))
    stale = entry(rule="R", expires=date(2025, 2, 28), file="s.yaml", line=4)
    (note,) = apply([f], [stale], TODAY)
    assert not f.suppressed and f.suppression_reason is None
    assert note["status"] == "expired"
    assert (note["rule"], note["expires"], note["matched"], note["line"]) == ("R", "2025-02-28", 1, 4)
    assert "s.yaml:4" in describe_note(note) and "expired on 2025-02-28" in describe_note(note)


def test_expired_entry_leaves_the_finding_to_a_live_one() -> None:
    f = make("R", rid("a"))
    notes = apply([f], [entry(expires=date(2020, 1, 1), reason="old"), entry(reason="new")], TODAY)
    assert f.suppression_reason == "new"
    assert [n["status"] for n in notes] == ["expired"]


def test_unused_entry_is_reported() -> None:
    f = make("R", rid("a"))
    typo = entry(rule="STG-CAHCE-KIND", line=9, file="s.yaml")
    (note,) = apply([f], [entry(rule="R"), typo], TODAY)
    assert note["status"] == "unused"
    assert note["rule"] == "STG-CAHCE-KIND"
    assert "matched no finding" in describe_note(note)
    assert f.suppressed


def test_load_then_apply_end_to_end(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """- rule: STG-*
  resource: "*/storageaccounts/cache*"
  reason: transient cache
  expires: 2025-03-01
- rule: NET-*
  resource: "*"
  reason: gone
  expires: 2025-01-01
""",
    )
    findings = [make("STG-CACHE-REDUNDANCY", rid("CacheEast")), make("STG-LOG-PAIRING", rid("replica"))]
    notes = apply(findings, load(path), TODAY)
    assert [f.suppressed for f in findings] == [True, False]
    assert [(n["status"], n["line"]) for n in notes] == [("expired", 5)]
