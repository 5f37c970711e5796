"""The NSG rules in a forked child: the same findings and passed checks as one process, and the
parent's own run of them whenever the child cannot answer."""

from __future__ import annotations

import dataclasses
import os
import pickle
from typing import Any

import pytest

from asr_audit.access.clouds import CLOUDS
from asr_audit.app.replay import DEMO_CASSETTE, replay_scan
from asr_audit.collect import ScanRequest
from asr_audit.findings import Finding
from asr_audit.inventory import Inventory
from asr_audit.rules import analyze, parallel, passed
from asr_audit.rules.base import Context, Rule
from asr_audit.rules.catalog import Catalog, default_catalog

CLOUD = CLOUDS["AzureCloud"]
ON_LINUX = pytest.mark.skipif(not parallel.sys.platform.startswith("linux"), reason="forks only on Linux")


@pytest.fixture(scope="module")
def demo() -> Inventory:
    return replay_scan(DEMO_CASSETTE, ScanRequest(subscriptions=[], cloud=CLOUD))


def _context(inventory: Inventory) -> Context:
    return Context(inventory, source_region="eastus", target_region="westus2", cloud=CLOUD)


def _audit(inventory: Inventory, catalog: Catalog | None = None) -> tuple[list[Any], list[Any]]:
    context = _context(inventory)
    found = analyze(context, catalog)
    return [f.to_json() for f in found], [dataclasses.astuple(c) for c in passed(context, found)]


def _forking(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fork whatever the inventory's size, and beside the threads earlier tests of this worker may
    have left (a stalled fake server's); the pids of the children made."""
    monkeypatch.setattr(parallel, "MIN_NSGS", 0)
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    children: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(parallel.os, "fork", counted)
    return children


@ON_LINUX
def test_the_nsg_rules_in_a_child_give_what_one_process_gives(
    demo: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = _audit(demo)
    children = _forking(monkeypatch)
    together = _audit(demo)
    assert len(children) == 1
    assert together == alone
    assert any(f["rule_id"] in parallel.FORKED for f in together[0])  # the child's share came back
    assert any(c[0] in parallel.FORKED for c in together[1])  # and the checks it recorded


@ON_LINUX
def test_a_child_that_fails_leaves_its_rules_to_the_parent(
    demo: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = _audit(demo)
    parent = os.getpid()
    rules = list(default_catalog())

    def failing_in_child(rule: Rule) -> Rule:
        def check(context: Context) -> list[Finding]:
            if os.getpid() != parent:
                raise RuntimeError("the child fails")
            return list(rule.check(context))

        return dataclasses.replace(rule, check=check)

    catalog = Catalog(failing_in_child(r) if r.meta.id == "NET-NSG-RECOVERY-SIDE" else r for r in rules)
    children = _forking(monkeypatch)
    assert _audit(demo, catalog) == alone
    assert len(children) == 1


@ON_LINUX
def test_a_child_answer_cut_short_leaves_its_rules_to_the_parent(
    demo: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is decoded as it is read: one that ends early is not half taken."""
    alone = _audit(demo)
    encode = pickle.dumps
    monkeypatch.setattr(
        parallel.pickle, "dumps", lambda obj, **kw: encode(obj, **kw)[: len(encode(obj, **kw)) // 2]
    )
    children = _forking(monkeypatch)
    assert _audit(demo) == alone
    assert len(children) == 1


@ON_LINUX
def test_a_parent_rule_that_fails_takes_the_child_down_with_it(
    demo: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(rule: Rule) -> Rule:
        def check(context: Context) -> list[Finding]:
            raise RuntimeError("a bug in a rule")

        return dataclasses.replace(rule, check=check)

    catalog = Catalog(failing(r) if r.meta.id == "NET-FIREWALL-FQDN" else r for r in default_catalog())
    children = _forking(monkeypatch)
    with pytest.raises(RuntimeError, match="a bug in a rule"):
        _audit(demo, catalog)
    assert len(children) == 1
    with pytest.raises(ChildProcessError):  # killed and reaped: no process left behind
        os.waitpid(children[0], os.WNOHANG)


def test_when_no_process_can_be_forked_one_process_does_it_all(
    demo: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = _audit(demo)

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(parallel.os, "fork", refused, raising=False)
    monkeypatch.setattr(parallel, "split", lambda rules, context: _halves(rules))
    assert _audit(demo) == alone


def _halves(rules: Any) -> tuple[list[Rule], list[Rule]]:
    """The split `parallel.split` makes where forking is allowed, whatever the platform."""
    rules = list(rules)
    return [r for r in rules if r.meta.id in parallel.FORKED], [
        r for r in rules if r.meta.id not in parallel.FORKED
    ]


def test_nothing_is_forked_for_a_small_inventory_or_beside_another_thread(
    demo: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = list(default_catalog())
    context = _context(demo)
    threads = 1
    monkeypatch.setattr(parallel.threading, "active_count", lambda: threads)
    assert len(demo.network_security_groups) < parallel.MIN_NSGS
    assert parallel.split(rules, context) is None
    monkeypatch.setattr(parallel, "MIN_NSGS", 0)
    if parallel.sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) > 1:
        child, parent = parallel.split(rules, context) or ([], [])
        assert {r.meta.id for r in child} == parallel.FORKED
        assert parent and not {r.meta.id for r in parent} & parallel.FORKED
    # Only the NSG rules, or none of them: nothing to share out.
    assert parallel.split([r for r in rules if r.meta.id in parallel.FORKED], context) is None
    assert parallel.split([r for r in rules if r.meta.id not in parallel.FORKED], context) is None
    threads = 2  # another thread running: a fork would copy only this one
    assert parallel.split(rules, context) is None
