"""The moment an inventory shows is ARM's `Date`, so a recording is judged as of its recording."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from test_collect_scan import SUB, fake_arm, run, subscription_body
from test_collect_transport import ok

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.server_time import ServerTime, parse_http_date
from asr_audit.app import runner
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest

RECORDED_AT = "2026-12-06T12:00:00Z"  # tests/scenarios/broken/scenario.yaml `clock`


class FarFuture(datetime):
    """`datetime` with its clock five years on: what a replay next decade would see."""

    @classmethod
    def now(cls, tz: object = None) -> FarFuture:  # type: ignore[override]
        return cls(2031, 12, 6, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Sun, 06 Dec 2026 12:00:00 GMT", datetime(2026, 12, 6, 12, tzinfo=timezone.utc)),
        ("Sun, 06 Dec 2026 13:00:00 +0100", datetime(2026, 12, 6, 12, tzinfo=timezone.utc)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_http_dates_parse_to_utc_or_not_at_all(header: str | None, expected: datetime | None) -> None:
    assert parse_http_date(header) == expected


def test_server_time_keeps_the_latest_date_and_ignores_junk() -> None:
    seen = ServerTime()
    for header in ("Sun, 06 Dec 2026 12:00:05 GMT", "garbage", "Sun, 06 Dec 2026 11:59:00 GMT", None):
        seen.saw(header)
    assert seen.latest() == datetime(2026, 12, 6, 12, 0, 5, tzinfo=timezone.utc)


def test_a_scan_is_as_of_the_latest_date_arm_answered_with() -> None:
    transport = fake_arm()
    body = subscription_body(SUB, "Prod")
    transport.add("GET", rf"/subscriptions/{SUB}\?", ok(body, {"Date": "Mon, 07 Dec 2026 08:30:00 GMT"}))
    transport.add("GET", r"virtualNetworks\?", ok({"value": []}, {"Date": "Mon, 07 Dec 2026 08:30:02 GMT"}))
    assert run(transport).collected_at == "2026-12-07T08:30:02Z"


def test_a_scan_no_answer_dated_falls_back_to_the_local_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("asr_audit.collect.scheduler.datetime", FarFuture)
    assert run(fake_arm()).collected_at == "2031-12-06T12:00:00Z"


def test_the_demo_replayed_years_later_finds_what_it_found_when_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = ScanRequest(subscriptions=[], cloud=CLOUDS["AzureCloud"])
    before = runner.audit(replay_scan(DEMO_CASSETTE, request), cloud=CLOUDS["AzureCloud"])
    # Every module that could otherwise read the local clock for the inventory's moment.
    monkeypatch.setattr("asr_audit.collect.scheduler.datetime", FarFuture)
    monkeypatch.setattr("asr_audit.rules.base.datetime", FarFuture)
    inventory = replay_scan(DEMO_CASSETTE, request)
    assert inventory.collected_at == RECORDED_AT
    later = runner.audit(inventory, cloud=CLOUDS["AzureCloud"])
    assert [f.fingerprint for f in later.findings] == [f.fingerprint for f in before.findings]
    assert any(f.rule_id == "ASR-AGENT" for f in later.findings)
