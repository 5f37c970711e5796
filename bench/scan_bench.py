"""Scan a synthetic tenant through the fake ARM server with per-request latency, and report
how close the real collector comes to the lower bound that latency imposes.

Three processes, so each figure belongs to one of them:
- this one generates (or reuses) the tenant and coordinates;
- a server process runs `FakeArm` (its JSON encoding, TLS and sleeping threads would
  otherwise share the client's GIL and CPU clock);
- a client process imports asr_audit and runs the real `scan()` with a static token
  (`ASR_AUDIT_ACCESS_TOKEN`) and the fake's CA (`REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`). Its
  `getrusage(RUSAGE_SELF)` covers every thread of the scan and nothing of the server; its
  `ru_maxrss` is the scan's peak resident memory, imports included.

The first scan in the client is cold (it imports the SDK clients, as a CLI run does); later
ones (`--runs`) are warm. Not part of the test suite. Usage:

    python -m bench.scan_bench --subscriptions 4 --resources 10000 [--latency 0.05] [--page-size 100]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.synth_tenant import SynthError, TenantShape, ensure, resource_counts

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-static-token"
# Scenario file stem -> the Inventory list that holds what the collector made of it.
COLLECTED = {
    "vaults": "vaults",
    "storageAccounts": "storage_accounts",
    "virtualNetworks": "virtual_networks",
    "networkSecurityGroups": "network_security_groups",
    "routeTables": "route_tables",
    "expressRouteCircuits": "express_route_circuits",
    "azureFirewalls": "azure_firewalls",
    "networkInterfaces": "network_interfaces",
    "virtualMachines": "virtual_machines",
    "disks": "disks",
    "virtualNetworkGateways": "virtual_network_gateways",
    "connections": "connections",
    "replicationProtectedItems": "protected_items",
    "replicationNetworkMappings": "network_mappings",
}


# --- the lower bound: longest chain of dependent pages ---------------------------------------


@dataclass(frozen=True, slots=True)
class Chain:
    requests: int  # sequential round trips on the critical path
    path: list[tuple[str, int]]  # (list path, pages), root first


def _parent(path: str, region_hint: bool, first_sub: str | None) -> str | None:
    """The list whose completion the scheduler waits for before it can issue `path`.

    Mirrors asr_audit/collect/scheduler.py and plan.py: every subscription is checked (one
    GET) before any job starts; a vault's GET and ASR lists follow its subscription's whole
    vault list; per-resource-group gateway and connection lists follow the filtered
    `/resources` list; without a region hint, the service-tags GET follows the first
    subscription's VNet list (its location names the service-tags region).
    """
    segs = path.strip("/").split("/")
    if len(segs) < 2 or segs[0] != "subscriptions":
        return None
    sub = f"/subscriptions/{segs[1]}"
    rest = segs[2:]
    if not rest:
        return None
    if "vaults" in rest and rest.index("vaults") + 1 < len(rest):
        return f"{sub}/providers/microsoft.recoveryservices/vaults"
    if rest[0] == "resourcegroups":
        return f"{sub}/resources"
    if rest[-1] == "servicetags" and not region_hint:
        return f"/subscriptions/{first_sub or segs[1]}/providers/microsoft.network/virtualnetworks"
    return sub


def critical_chain(paths: list[str], region_hint: bool, first_sub: str | None) -> Chain:
    """Longest sum of pages along parent links, over every list the scan requested."""
    pages = Counter(p.lower().rstrip("/") for p in paths)
    memo: dict[str, list[tuple[str, int]]] = {}

    def chain(path: str) -> list[tuple[str, int]]:
        if path not in memo:
            parent = _parent(path, region_hint, first_sub)
            memo[path] = (chain(parent) if parent else []) + [(path, pages.get(path, 0))]
        return memo[path]

    best = max((chain(p) for p in pages), key=lambda c: sum(n for _, n in c), default=[])
    return Chain(sum(n for _, n in best), best)


# --- server process ------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def trust_bundle(ca_bundle: str) -> str:
    """A CA bundle as clients trust ARM with: certifi's ~140 certificates (what requests verifies
    with by default; a system bundle is as large) and the fake's own CA. With the fake's CA alone,
    loading the bundle cost nothing, which hid that each new connection loaded it again (20-40 ms
    of CPU each, up to a second per scan; asr_audit/access/tls.py)."""
    from asr_audit.access.tls import default_bundle

    trust = Path(ca_bundle).with_name("trust.pem")
    if not trust.exists():
        ours = Path(ca_bundle).read_text(encoding="ascii")
        trust.write_text(Path(default_bundle()).read_text(encoding="ascii") + ours, encoding="ascii")
    return str(trust)


def serve(scenario: str, page_size: int, latency: float, conn: Connection, lean: bool = False) -> None:
    """Run FakeArm until told to stop; on "log", send the requests since the last "log".

    Rendered answers are memoised: FakeArm filters and JSON-encodes every page per request
    (~0.8 s of GIL-bound CPU for 10,000 resources), which would add server time to the
    client's figures. From the second scan on, the fake answers in its latency alone, as a
    real ARM front end does for the client; the first (cold) scan still renders each page.

    `lean` (one cold scan of a large tenant, `bench.scale --collect`): the bodies stay the text
    they were generated as, and nothing is memoised, so a million resources take ~8 GB here
    instead of more than this machine has (see `RawBody`). Pages are then joined from that text,
    which costs the server less than encoding would.
    """
    sys.path.insert(0, str(REPO / "tests"))
    from fakearm import FakeArm, Scenario

    class MemoFakeArm(FakeArm):
        memo: dict[tuple[str, str], Any] = {}

        def _route(self, raw_path: str, path: str, query: dict[str, str]) -> Any:
            key = (raw_path, json.dumps(sorted(query.items())))
            if key not in self.memo:
                self.memo[key] = super()._route(raw_path, path, query)
            return self.memo[key]

    if lean:
        fake: FakeArm = FakeArm(
            Scenario.load(scenario, lean=True), page_size=page_size, latency=latency, token=TOKEN
        )
    else:
        fake = MemoFakeArm(scenario, page_size=page_size, latency=latency, token=TOKEN)
    with fake as arm:
        conn.send((arm.url, trust_bundle(arm.ca_bundle)))
        seen, cpu_mark = 0, _cpu_seconds()
        while conn.recv() == "log":
            log = arm.requests
            cpu = _cpu_seconds()
            conn.send(([(r.method, r.path) for r in log[seen:]], cpu - cpu_mark))
            seen, cpu_mark = len(log), cpu


# --- client process --------------------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def peak_rss_kib() -> int:
    """This program's own peak RSS (`VmHWM`). Not `ru_maxrss`: Linux carries that across the
    fork and exec that start this process, so it also counted the coordinator's memory at the
    spawn: 1,275 MiB reported for a 100k-resource scan whose own peak was 557-569 MiB, when the
    coordinator still decoded every scenario file to count what a complete scan must collect."""
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1])


def client(url: str, ca_bundle: str, options: dict[str, Any], conn: Connection) -> None:
    """Run `runs` scans, each when the coordinator says "go"; report each one's figures."""
    os.environ.update(REQUESTS_CA_BUNDLE=ca_bundle, SSL_CERT_FILE=ca_bundle, ASR_AUDIT_ACCESS_TOKEN=TOKEN)
    from asr_audit import collect, heap
    from asr_audit.access import credential as auth
    from asr_audit.access.clouds import CLOUDS

    heap.few_malloc_arenas()  # as the console command does before it scans
    cloud = CLOUDS["AzureCloud"].with_arm_endpoint(url)
    kwargs = {"concurrency": options["concurrency"]} if options["concurrency"] else {}
    backend = options.get("backend", "arm")
    request = collect.ScanRequest(
        options["subscriptions"], cloud, regions=options["regions"], backend=backend, **kwargs
    )
    rss_before = _rss_kib()
    while conn.recv() == "go":
        credential = auth.make_credential(cloud)
        cpu0, wall0 = _cpu_seconds(), time.perf_counter()
        try:
            inventory = collect.scan(request, credential)
        except Exception as exc:  # the coordinator reports it; a traceback here would hang the pipe
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
            return
        wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
        conn.send(
            {
                "wall": wall,
                "cpu": cpu,
                "concurrency": request.concurrency,
                "rss_before_kib": rss_before,
                "peak_rss_kib": peak_rss_kib(),
                "counts": {stem: len(getattr(inventory, field)) for stem, field in COLLECTED.items()},
                "service_tags": len(inventory.service_tags),
                "gaps": [
                    f"{c.collector} {c.status}: {c.detail}" for c in inventory.coverage if c.status != "ok"
                ],
            }
        )
        del inventory


# --- coordinator -------------------------------------------------------------------------------------


def expected_counts(scenario: Path) -> dict[str, int]:
    """What a complete scan of a generated tenant collects, per scenario file."""
    counts = resource_counts(scenario)
    return {stem: counts.get(stem, 0) for stem in COLLECTED}


def _short(path: str) -> str:
    """`/subscriptions/<guid>/providers/microsoft.compute/disks` -> `disks`; a subscription GET stays."""
    segs = path.strip("/").split("/")
    return "subscription" if len(segs) == 2 else segs[-1]


def report(
    run: dict[str, Any],
    requests: list[tuple[str, str]],
    server_cpu: float,
    args: argparse.Namespace,
    expected: dict[str, int],
    first_sub: str,
) -> tuple[list[str], bool]:
    """The figures of one scan, and whether it collected exactly what the tenant holds."""
    chain = critical_chain([p for _, p in requests], bool(args.region), first_sub)
    bound = chain.requests * args.latency
    pool_bound = math.ceil(len(requests) / run["concurrency"]) * args.latency
    collected = sum(run["counts"].values())
    wrong = {s: (run["counts"][s], n) for s, n in expected.items() if run["counts"][s] != n}
    methods = Counter(m for m, _ in requests)
    ms = args.latency * 1000
    ratio = f"{run['wall'] / bound:.2f}x (target <= 1.5x)" if bound else "n/a"
    per_resource = run["cpu"] / max(collected, 1) * 1e6
    rows = [
        ("wall time", f"{run['wall']:.3f} s"),
        ("requests sent", f"{len(requests)} ({', '.join(f'{m} {n}' for m, n in methods.items())})"),
        ("lower bound", f"{bound:.3f} s = {chain.requests} sequential requests x {ms:.0f} ms"),
        ("  critical chain", " -> ".join(f"{_short(p)} ({n})" for p, n in chain.path)),
        ("wall / lower bound", ratio),
        ("pool bound", f"{pool_bound:.3f} s = ceil({len(requests)} / {run['concurrency']}) x {ms:.0f} ms"),
        ("wall / max(bounds)", f"{run['wall'] / max(bound, pool_bound, 1e-9):.2f}x"),
        ("client CPU", f"{run['cpu']:.3f} s = {per_resource:.0f} us per resource ({collected} resources"
                       f" + {run['service_tags']} service tags)"),
        ("server CPU", f"{server_cpu:.3f} s (separate process)"),
        ("client peak RSS", f"{run['peak_rss_kib'] / 1024:.0f} MiB"
                            f" (before the first scan: {run['rss_before_kib'] / 1024:.0f} MiB)"),
    ]  # fmt: skip
    lines = [f"{label:<20} {text}" for label, text in rows]
    complete = not wrong and not run["gaps"]
    if not complete:
        lines.append(f"{'INCOMPLETE SCAN':<20} (got, expected) {wrong}; coverage gaps {run['gaps'][:5]}")
    return lines, complete


def _py_spy(pid: int | None, out: Path) -> subprocess.Popen[bytes]:
    """Sample the client only, and only the thread holding the GIL (on-CPU Python); collapsed stacks."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [
        exe,
        "record",
        "--gil",
        "--rate",
        "250",
        "--format",
        "raw",
        "--pid",
        str(pid),
        "--output",
        str(out),
    ]
    sampler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach before the first scan starts
    return sampler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    default = TenantShape()
    parser.add_argument("--subscriptions", type=int, default=default.subscriptions)
    parser.add_argument("--resources", type=int, default=default.resources)
    parser.add_argument("--service-tags", type=int, default=default.service_tags)
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--scenario", type=Path, help="tenant directory (default bench/out/tenant-SxR-seedN)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every request (0.05)")
    parser.add_argument("--page-size", type=int, default=100, help="items per ARM page (100)")
    parser.add_argument("--concurrency", type=int, help="scan concurrency (default: the tool's default)")
    parser.add_argument("--region", action="append", default=[], help="ScanRequest.regions hint (repeatable)")
    parser.add_argument(
        "--runs", type=int, default=2, help="scans in one client process: cold, then warm (2)"
    )
    parser.add_argument(
        "--py-spy", type=Path, metavar="FILE", help="py-spy the client (GIL holder only) into FILE"
    )
    args = parser.parse_args(argv)

    shape = TenantShape(args.subscriptions, args.resources, args.seed, args.service_tags)
    scenario = (
        args.scenario
        or REPO / "bench" / "out" / f"tenant-{shape.subscriptions}x{shape.resources}-seed{shape.seed}"
    )
    try:
        started = time.perf_counter()
        if ensure(shape, scenario):
            print(f"generated {scenario} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    except SynthError as exc:
        parser.error(str(exc))
    import yaml

    subscriptions = [
        s["id"]
        for s in yaml.safe_load((scenario / "scenario.yaml").read_text(encoding="utf-8"))["subscriptions"]
    ]
    expected = expected_counts(scenario)

    print(
        f"tenant {scenario.name}: {sum(expected.values())} resources, {len(subscriptions)} subscriptions;"
        f" latency {args.latency * 1000:.0f} ms, page size {args.page_size};"
        f" load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    return 0 if run_scans(args, scenario, subscriptions, expected) else 1


def run_scans(
    args: argparse.Namespace, scenario: Path, subscriptions: list[str], expected: dict[str, int]
) -> bool:
    """Start the server and client processes, run the scans in lockstep, print each report."""
    ctx = mp.get_context("spawn")
    server_end, server_conn = ctx.Pipe()
    client_end, client_conn = ctx.Pipe()
    server = ctx.Process(
        target=serve, args=(str(scenario), args.page_size, args.latency, server_conn), daemon=True
    )
    server.start()
    ok = True
    try:
        url, ca_bundle = server_end.recv()
        options = {"subscriptions": subscriptions, "regions": args.region, "concurrency": args.concurrency}
        worker = ctx.Process(target=client, args=(url, ca_bundle, options, client_conn), daemon=True)
        worker.start()
        sampler = _py_spy(worker.pid, args.py_spy) if args.py_spy else None
        server_end.send("log")  # discard the start-up mark
        server_end.recv()
        for n in range(args.runs):
            client_end.send("go")
            run = client_end.recv()
            if "error" in run:
                print(f"scan failed: {run['error']}", file=sys.stderr)
                return False
            server_end.send("log")
            requests, server_cpu = server_end.recv()
            lines, complete = report(run, requests, server_cpu, args, expected, subscriptions[0])
            ok = ok and complete
            print(f"\nrun {n + 1} ({'cold' if n == 0 else 'warm'}, concurrency {run['concurrency']})")
            print("\n".join("  " + line for line in lines))
        client_end.send("stop")
        worker.join(timeout=30)
        if sampler is not None:
            sampler.wait(timeout=60)  # py-spy writes its file when the client exits
    finally:
        server_end.send("stop")
        server.join(timeout=30)
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
