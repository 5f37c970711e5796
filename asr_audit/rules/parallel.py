"""The NSG rules in a second process, on a large inventory: the analysis is CPU-bound Python, so a
second core helps only as a second process.

The two rules that evaluate every workload's and recovery subnet's NSGs (NET-NSG-OUTBOUND,
NET-NSG-RECOVERY-SIDE) share one compiled NSG estate and take about 45 % of a 100k-resource
analysis (bench/README.md), so they run in a forked child while the parent runs every other rule;
the child sends back its findings and the checks it recorded. NET-NSG-IP-RULES uses the same
estate but evaluates only the paths whose NSGs hold IP-range allow rules: it stays in the
parent, which would otherwise wait for the child (tuned on 2 CPUs: 12.1 -> 10.7 s at 100k).

Rules are pure, so where they run changes nothing: the findings are sorted afterwards, and each
rule's findings and checks keep their order because one process runs the whole rule.

Only where forking is safe and pays: Linux (a copy-on-write fork; elsewhere `fork` is unsafe or
missing), two CPUs or more, no other thread running (a fork copies only the calling thread, and a
lock another thread held would stay locked in the child), and enough NSGs that the work outweighs
the fork. Fail closed: if the child fails or its answer cannot be read, the parent runs those rules
itself, so a finding is never lost.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO, NoReturn

from asr_audit.findings import Check, Finding
from asr_audit.rules.base import Context, Rule

# They share `Estate` (compiled NSGs and address books), so they belong in one process.
FORKED = frozenset({"NET-NSG-OUTBOUND", "NET-NSG-RECOVERY-SIDE"})
# Below this many NSGs the two rules take well under a second (about 0.5 s per 1,000 NSGs).
MIN_NSGS = 500

RunRules = Callable[[Sequence[Rule], Context], list[Finding]]


def split(rules: Sequence[Rule], context: Context) -> tuple[list[Rule], list[Rule]] | None:
    """(the rules for the child, those for the parent), or None to run them all here."""
    child = [r for r in rules if r.meta.id in FORKED]
    parent = [r for r in rules if r.meta.id not in FORKED]
    if not (child and parent) or len(context.inventory.network_security_groups) < MIN_NSGS:
        return None
    if sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2 or threading.active_count() > 1:
        return None
    return child, parent


def run(
    child_rules: list[Rule], parent_rules: list[Rule], context: Context, run_rules: RunRules
) -> list[Finding]:
    """Every finding of both lists, the child's rules run in a forked process where that works."""
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no process to be had (a limit, memory): one process does it all
        os.close(read)
        os.close(write)
        return run_rules([*parent_rules, *child_rules], context)
    if pid == 0:  # the child: never returns
        os.close(read)
        _child(child_rules, context, run_rules, write)
    os.close(write)
    reaped = False
    try:
        with os.fdopen(read, "rb") as stream:
            found = run_rules(parent_rules, context)
            theirs = _decoded(stream)
        _, status = os.waitpid(pid, 0)
        reaped = True
        if os.waitstatus_to_exitcode(status) != 0:
            theirs = None
    finally:
        if not reaped:  # interrupted or failed here: the child's work is moot
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    if theirs is None:
        return found + run_rules(child_rules, context)
    child_found, child_checks = theirs
    context.checks.extend(child_checks)
    return found + child_found


def _child(rules: list[Rule], context: Context, run_rules: RunRules, write: int) -> NoReturn:
    """Run the rules, send (findings, checks recorded), exit without the parent's cleanup."""
    code = 1
    try:
        gc.disable()  # a collection would touch, and so copy, every page of the parent's heap
        before = len(context.checks)
        found = run_rules(rules, context)
        payload = pickle.dumps((found, context.checks[before:]), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as stream:
            stream.write(payload)
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _decoded(stream: BinaryIO) -> tuple[list[Finding], list[Check]] | None:
    """The child's answer, decoded as it is read: the whole pickle held beside the findings it
    makes added its size (2.7 MiB at 100k resources) to the parent's peak, which is here; at 1M
    the peak went from 4,068 to 4,058 MiB (bench/README.md)."""
    try:
        found, checks = pickle.load(stream)
    except Exception:
        return None
    return found, checks
