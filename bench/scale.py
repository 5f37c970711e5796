"""Tenant-scale benchmark: snapshot save, snapshot load, analysis and the JSON report at 10k,
100k and 1M resources, with the growth exponent of each phase (issue 10).

No HTTP: the synthetic tenant (`bench.synth_tenant`, profile `scale`) is built one subscription at
a time and turned into inventory records by the collector's own parsers, so the analysis reads
exactly what a scan would have built, and a million resources never sit in memory as JSON.

Each size runs in two fresh processes, so each figure belongs to one of them:
- **write**: builds the inventory, then saves the snapshot (`Inventory.save`);
- **read**: what `asr-audit --snapshot FILE --output json` does: loads the snapshot, analyses it
  (readiness mode, eastus -> westus, every rule) and writes the JSON report to a file in pieces,
  as `--out` does. Its peak RSS is the analysis run's peak memory.

With `--collect`, a third fresh process per size, **collect**: a cold `collect.scan()` of the
same tenant written as a fake-ARM scenario and served over HTTPS on 127.0.0.1 (ARM backend, page
size 100, no added latency), the request count with it. It fails unless the scan collects
exactly what the tenant holds, with no gap. The fake keeps the bodies as the text they were
written as (a lean scenario: ~8.5 GB at 1M, in its own process); decoded, they would not fit.
Then, against the same server, a fourth, **command**: the whole console command (`asr-audit
--all-subscriptions ... --output json --out FILE`: scan, analysis and report in one process, as
an administrator runs it), whose peak RSS is what such a run needs; it fails on any exit but 0.

Wall is `perf_counter`, CPU is `getrusage` user + system of the process and its children (the
analysis forks one for the NSG rules), peak RSS is the process's own high-water mark (`VmHWM`)
after the phase (peak so far in that process). The growth exponent between two sizes is
log(t2 / t1) / log(n2 / n1): 1.0 is linear. Not part of the test suite. Usage:

    python -m bench.scale                          # 10k and 100k, then `asr-audit --help`
    python -m bench.scale --sizes 10000 100000 1000000
    python -m bench.scale --sizes 10000 100000 --collect
    python -m bench.scale --sizes 100000 1000000 --collect  # ~30 min; ~13 GiB with the fake
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import byte_compile
from bench.scan_bench import peak_rss_kib
from bench.synth_tenant import TenantShape, subscriptions

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
SOURCE, TARGET = "eastus", "westus"
PER_SUBSCRIPTION = 2_500  # resources per subscription: a tenant grows by subscriptions, as estates do

TARGETS = {  # issue 10: analysis wall at a size, and the 10k -> 100k growth exponent
    100_000: 10.0,
    1_000_000: 120.0,
}
RSS_TARGET_MIB = 4096  # at 1M
EXPONENT_TARGET = 1.15
COLLECT_MAX = 1_000_000  # resources: the fake ARM holds the whole tenant's JSON (~8.5 GB at 1M)
COLLECT_PAGE_SIZE = 100
# The command run after the collect phase, on the same tenant and server, analysing as the read
# child does; the report file goes last.
COMMAND = (
    *("--all-subscriptions", "--source-region", SOURCE, "--target-region", TARGET),
    *("--output", "json", "--quiet", "--fail-on", "none", "--out"),
)


# --- building the inventory --------------------------------------------------------------------


def _parsers() -> dict[str, tuple[str, Callable[[dict[str, Any]], Any]]]:
    """Scenario file stem -> (Inventory section, the collector's parser for one item)."""
    from asr_audit.collect import compute, network, recovery, storage

    return {
        "vaults": ("vaults", recovery.parse_vault),
        "storageAccounts": ("storage_accounts", storage.parse_storage_account),
        "virtualNetworks": ("virtual_networks", network.parse_virtual_network),
        "networkSecurityGroups": ("network_security_groups", network.parse_network_security_group),
        "routeTables": ("route_tables", network.parse_route_table),
        "expressRouteCircuits": ("express_route_circuits", network.parse_express_route_circuit),
        "azureFirewalls": ("azure_firewalls", network.parse_azure_firewall),
        "networkInterfaces": ("network_interfaces", network.parse_network_interface),
        "virtualMachines": ("virtual_machines", compute.parse_virtual_machine),
        "disks": ("disks", compute.parse_disk),
        "virtualNetworkGateways": ("virtual_network_gateways", network.parse_virtual_network_gateway),
        "connections": ("connections", network.parse_connection),
        "replicationProtectedItems": ("protected_items", recovery.parse_protected_item),
        "replicationNetworkMappings": ("network_mappings", recovery.parse_network_mapping),
    }


def shape_for(resources: int, seed: int = 1) -> TenantShape:
    return TenantShape(max(1, resources // PER_SUBSCRIPTION), resources, seed, profile="scale")


def build_inventory(shape: TenantShape) -> Any:
    """The tenant as a complete scan would have collected it: every record, an `ok` coverage
    record per subscription and collector, and the service tags."""
    from asr_audit.collect import network
    from asr_audit.inventory import (
        SERVICE_TAGS,
        SUBSCRIPTION_CHECK,
        SUBSCRIPTION_COLLECTORS,
        Coverage,
        CoverageStatus,
        Inventory,
        Subscription,
        sharing,
    )

    parsers = _parsers()
    inventory = Inventory(collected_at="2026-11-23T00:00:00Z")
    ok = CoverageStatus.OK
    with sharing.building():  # as `collect.scan` builds
        for sub, built in subscriptions(shape):
            if not sub:  # the service tags, last
                tags = built["serviceTags"][0]["values"]
                inventory.service_tags = [network.parse_service_tag(t) for t in tags]
                first = inventory.subscriptions[0].id
                inventory.coverage.append(Coverage(first, SERVICE_TAGS, ok, items=len(tags)))
                continue
            inventory.subscriptions.append(Subscription(sub["id"], sub["displayName"], sub["state"]))
            for collector in (SUBSCRIPTION_CHECK, *SUBSCRIPTION_COLLECTORS):
                inventory.coverage.append(Coverage(sub["id"], collector, ok))
            for stem, bodies in built.items():
                section, parse = parsers[stem]
                getattr(inventory, section).extend(parse(body) for body in bodies)
    return inventory


# --- measuring -------------------------------------------------------------------------------------


def _cpu() -> float:
    """This process's CPU and that of its children waited for: the analysis runs the NSG rules
    in a forked child on a large inventory (`asr_audit.rules.parallel`)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


@contextmanager
def phase(figures: dict[str, dict[str, float]], name: str) -> Iterator[None]:
    wall0, cpu0 = time.perf_counter(), _cpu()
    yield
    figures[name] = {
        "wall": time.perf_counter() - wall0,
        "cpu": _cpu() - cpu0,
        # Not `ru_maxrss`: Linux carries it across the fork and exec that started this process, so
        # it would also count what the coordinator held at the spawn.
        "peak_rss_mib": peak_rss_kib() / 1024,
        # the forked analysis child's peak: mostly pages it shares with this process
        "child_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def run_write(resources: int, snapshot: Path) -> dict[str, Any]:
    from asr_audit.inventory import Inventory

    figures: dict[str, dict[str, float]] = {}
    with phase(figures, "build"):
        inventory: Inventory = build_inventory(shape_for(resources))
    with phase(figures, "save"):
        inventory.save(snapshot)
    counted = sum(len(v) for k, v in vars_of(inventory).items() if k not in ("coverage", "subscriptions"))
    return {
        "figures": figures,
        "resources": counted - len(inventory.service_tags),
        "bytes": snapshot.stat().st_size,
    }


def vars_of(inventory: Any) -> dict[str, list[Any]]:
    import dataclasses

    return {
        f.name: getattr(inventory, f.name)
        for f in dataclasses.fields(inventory)
        if isinstance(getattr(inventory, f.name), list)
    }


def run_read(snapshot: Path, profile: Path | None) -> dict[str, Any]:
    from asr_audit import heap
    from asr_audit.access.clouds import CLOUDS
    from asr_audit.app.runner import audit
    from asr_audit.atomic_write import write_chunks_atomic
    from asr_audit.inventory import Inventory
    from asr_audit.report import json_report

    figures: dict[str, dict[str, float]] = {}
    with phase(figures, "load"):
        inventory = Inventory.load(snapshot)
    heap.hold_to_exit()  # as the console command does once its inventory is read
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with phase(figures, "analyse"):
        # As `asr-audit --snapshot FILE --output json` calls it: JSON draws no topology.
        report = audit(
            inventory, cloud=CLOUDS["AzureCloud"], source_region=SOURCE, target_region=TARGET, draw=False
        )
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    with phase(figures, "report"), tempfile.TemporaryDirectory(prefix="asr-scale-") as tmp:
        # As `--out FILE` writes it: in pieces as it is encoded, never held whole.
        out = Path(tmp) / "report.json"
        write_chunks_atomic(out, json_report.chunks(report))
        report_bytes = out.stat().st_size
    by_rule = Counter(f"{f.rule_id} {f.status.value}" for f in report.findings)
    return {
        "figures": figures,
        "findings": len(report.findings),
        "by_rule": dict(sorted(by_rule.items())),
        "report_bytes": report_bytes,
    }


def run_command(report: Path) -> dict[str, Any]:
    """The whole console command in this process (its own `one_shot` path: two malloc arenas, the
    heap held to the exit), so its peak memory can be read when it is done: the scan's inventory
    and what the analysis and the report build on it, at once."""
    from asr_audit.app import cli

    figures: dict[str, dict[str, float]] = {}
    with phase(figures, "command"):
        code = cli.main([*COMMAND, str(report)], one_shot=True)
    return {"figures": figures, "exit": code}


def run_collect(resources: int, keep: bool) -> dict[str, Any]:
    """The collect phase: one cold scan of the tenant through the fake ARM, in a fresh process;
    then the whole command against the same server, in another."""
    import yaml

    from bench.scan_bench import expected_counts
    from bench.synth_tenant import ensure
    from bench.targets import command_env, scan_once, server

    scenario = OUT / f"scale-tenant-{resources}"
    ensure(shape_for(resources), scenario)
    meta = yaml.safe_load((scenario / "scenario.yaml").read_text(encoding="utf-8"))
    subs = [s["id"] for s in meta["subscriptions"]]
    expected = expected_counts(scenario)
    try:
        with server(scenario, COLLECT_PAGE_SIZE, 0.0, lean=True) as arm:
            run = scan_once(arm, subs, "arm", None)
            report = OUT / f"scale-report-{resources}.json"
            command = _child("command", resources, report, None, command_env(arm))
            report.unlink(missing_ok=True)
    finally:
        if not keep:
            shutil.rmtree(scenario)
    wrong = {stem: (run["counts"][stem], n) for stem, n in expected.items() if run["counts"][stem] != n}
    if wrong or run["gaps"]:
        raise SystemExit(
            f"collect at {resources:,} is incomplete: (got, expected) {wrong}; gaps {run['gaps'][:5]}"
        )
    if command["exit"] != 0:  # 4: the command saw a gap the scan did not
        raise SystemExit(f"asr-audit at {resources:,} exited {command['exit']}")
    figures = {"wall": run["wall"], "cpu": run["cpu"], "peak_rss_mib": run["peak_rss_kib"] / 1024}
    return {"figures": {"collect": figures, **command["figures"]}, "requests": len(run["requests"])}


def _child(
    mode: str, resources: int, snapshot: Path, profile: Path | None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench.scale",
        "--child",
        mode,
        "--snapshot",
        str(snapshot),
        "--sizes",
        str(resources),
    ]
    if profile:
        cmd += ["--profile", str(profile)]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{mode} at {resources} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def help_wall(runs: int = 5) -> list[float]:
    """`asr-audit --help` wall time, each in a fresh process (the console script of this venv),
    with the project byte-compiled as an installed copy is."""
    byte_compile()
    exe = shutil.which("asr-audit") or str(Path(sys.executable).with_name("asr-audit"))
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, "--help"], capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    return walls


def exponent(n1: int, t1: float, n2: int, t2: float) -> float:
    return math.log(t2 / t1) / math.log(n2 / n1) if t1 > 0 and t2 > 0 else float("nan")


PHASES = ("save", "load", "analyse", "report")


def table(results: dict[int, dict[str, Any]]) -> list[str]:
    sizes = sorted(results)
    lines = [
        f"{'phase':<8} {'resources':>10} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}"
        f" {'child RSS MiB':>14} {'exponent (wall)':>16}"
    ]
    for name in ("collect", "command", "build", *PHASES):
        previous: tuple[int, float] | None = None
        for n in sizes:
            if name not in results[n]["figures"]:  # collect and command: run with --collect
                continue
            fig = results[n]["figures"][name]
            grow = f"{exponent(previous[0], previous[1], n, fig['wall']):.2f}" if previous else ""
            lines.append(
                f"{name:<8} {n:>10,} {fig['wall']:>8.2f} {fig['cpu']:>8.2f}"
                f" {fig['peak_rss_mib']:>13,.0f} {fig.get('child_rss_mib', 0):>14,.0f} {grow:>16}"
            )
            previous = (n, fig["wall"])
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def verdicts(results: dict[int, dict[str, Any]]) -> list[str]:
    out = []
    for n, limit in TARGETS.items():
        if n in results:
            wall = results[n]["figures"]["analyse"]["wall"]
            out.append(f"analysis at {n:,}: {wall:.2f} s (target <= {limit:.0f} s): {_met(wall <= limit)}")
    if 1_000_000 in results:
        rss = results[1_000_000]["figures"]["report"]["peak_rss_mib"]
        out.append(
            f"peak RSS of the 1M analysis run: {rss:,.0f} MiB (target <= {RSS_TARGET_MIB}):"
            f" {_met(rss <= RSS_TARGET_MIB)}"
        )
    if 10_000 in results and 100_000 in results:
        a, b = (results[n]["figures"]["analyse"]["wall"] for n in (10_000, 100_000))
        e = exponent(10_000, a, 100_000, b)
        out.append(
            f"analysis growth 10k -> 100k: {e:.2f} (target <= {EXPONENT_TARGET}):"
            f" {_met(e <= EXPONENT_TARGET)}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000], help="resources (10000 100000)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the snapshots in bench/out/")
    parser.add_argument("--profile", type=Path, help="cProfile the analysis of the largest size into FILE")
    parser.add_argument(
        "--collect",
        action="store_true",
        help=f"also scan each tenant through the fake ARM (up to {COLLECT_MAX:,} resources)",
    )
    parser.add_argument("--child", choices=("write", "read", "command"), help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        resources = args.sizes[0]
        if args.child == "write":
            result = run_write(resources, args.snapshot)
        elif args.child == "command":
            result = run_command(args.snapshot)
        else:
            result = run_read(args.snapshot, args.profile)
        print(json.dumps(result))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs;"
        f" {PER_SUBSCRIPTION:,} resources per subscription",
        flush=True,
    )
    results: dict[int, dict[str, Any]] = {}
    sizes = sorted(args.sizes)
    for n in sizes:
        snapshot = OUT / f"scale-{n}.json"
        wrote = _child("write", n, snapshot, None)
        read = _child("read", n, snapshot, args.profile if n == sizes[-1] else None)
        results[n] = {"figures": {**wrote["figures"], **read["figures"]}}
        collected = ""
        if args.collect and n <= COLLECT_MAX:
            scan = run_collect(n, args.keep)
            results[n]["figures"].update(scan["figures"])
            collected = f"; collect: {scan['requests']:,} requests, every resource, no gap"
        print(
            f"{n:,}: {wrote['resources']:,} resources in {shape_for(n).subscriptions} subscriptions,"
            f" snapshot {wrote['bytes'] / 2**20:,.0f} MiB; {read['findings']:,} findings, report"
            f" {read['report_bytes'] / 2**20:,.1f} MiB{collected}",
            flush=True,
        )
        print("  " + ", ".join(f"{k}: {v}" for k, v in read["by_rule"].items()), flush=True)
        if not args.keep:
            snapshot.unlink()
    print("\n".join(["", *table(results), "", *verdicts(results)]))
    walls = help_wall()
    print(
        f"asr-audit --help: {min(walls):.3f} s best, {sorted(walls)[len(walls) // 2]:.3f} s median"
        f" of {len(walls)} (target <= 0.3 s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
