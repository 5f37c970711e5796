"""Evaluate many NSGs against the replication destinations, and report time, peak memory and
how the time grows when the input doubles.

The input is synthetic but shaped like a real estate (deterministic for a seed):

- a service-tag catalogue of `--prefixes` address prefixes (IPv4 and IPv6), split into
  regional tags (`Storage.<region>`, `EventHub.<region>`, `AzureCloud.<region>`, ...) whose
  top-level tags cover them, plus `AzureActiveDirectory` and `AzureSiteRecovery`;
- `--nsgs` NSGs of ~20 outbound rules each: allows on regional and top-level tags (plural
  prefixes, plural and ranged ports), denies on public CIDRs, UDP and ASG rules that must not
  match, a `deny Internet` or a custom deny-all, and the three outbound default rules;
- each NSG is judged, for one NIC address, against the four destinations of a region pair
  (`Storage.<source>`, `AzureActiveDirectory`, `EventHub.<target>`, `AzureSiteRecovery`)
  exactly as NET-NSG-OUTBOUND does (`nsg.compile_nsg` then `nsg.judge`).

A run at half the size and one at full size (twice the NSGs and twice the catalogue) give
the growth ratio; for linear cost it is 2. Peak memory comes from a second pass over the
full size under tracemalloc (tracing slows Python several times over, so it never runs
while the clock does). Not part of the test suite. Usage:

    python -m bench.nsg_bench [--nsgs 10000] [--prefixes 100000] [--seed 1] [--no-memory]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass

from asr_audit.inventory import NetworkSecurityGroup, SecurityRule, ServiceTag
from asr_audit.net.nsg import DEFAULT_OUTBOUND, AddressBook, Match, Source, compile_nsg, judge
from asr_audit.net.prefixes import PrefixSet
from asr_audit.net.service_tags import ServiceTagIndex

REGIONS = 40
# The destinations, sized like the real tags: prefixes per regional tag, or in the global tag.
DESTINATION_TAGS = {"Storage": 100, "EventHub": 30}
GLOBAL_TAGS = {"AzureActiveDirectory": 150, "AzureSiteRecovery": 60}
# The rest of the catalogue, by share: tags that rules name but replication does not need.
OTHER_TAGS = {"AzureCloud": 0.7, "Sql": 0.15, "AzureMonitor": 0.15}
VNET = "10.0.0.0/16"
NIC = "10.0.1.4"
ASG = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/applicationSecurityGroups/asg-app"


@dataclass(frozen=True, slots=True)
class Workload:
    tags: list[ServiceTag]
    nsgs: list[tuple[NetworkSecurityGroup, str, str]]  # NSG, source region, target region


def _regions() -> list[str]:
    return [f"region{i:02d}" for i in range(REGIONS)]


class _Addresses:
    """Disjoint public blocks handed out in order, so tags never overlap by accident."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.v4 = int(ipaddress.ip_address("20.0.0.0"))
        self.v6 = int(ipaddress.ip_address("2603:1000::"))

    def take(self) -> str:
        if self.rng.random() < 0.25:
            self.v6 += 1 << 64
            return f"{ipaddress.IPv6Address(self.v6)}/64"
        length = self.rng.choice((22, 24, 24, 25, 26, 28))
        self.v4 += (1 << (32 - length)) + (256 if self.rng.random() < 0.5 else 0)  # gaps keep prefixes apart
        self.v4 -= self.v4 % (1 << (32 - length))
        return f"{ipaddress.IPv4Address(self.v4)}/{length}"


def catalogue(prefixes: int, rng: random.Random) -> list[ServiceTag]:
    """`prefixes` prefixes in all: the destination tags at their real sizes, the rest in others."""
    addresses = _Addresses(rng)
    fixed = REGIONS * sum(DESTINATION_TAGS.values()) + sum(GLOBAL_TAGS.values())
    sizes = {
        **DESTINATION_TAGS,
        **{k: max(1, round((prefixes - fixed) * v / REGIONS)) for k, v in OTHER_TAGS.items()},
    }
    tags: list[ServiceTag] = []
    for service, per_region in sizes.items():
        for region in _regions():
            listed = [addresses.take() for _ in range(per_region)]
            tags.append(ServiceTag(f"{service}.{region.capitalize()}", region, service, listed))
        tags.append(ServiceTag(service, None, service, []))  # covers its regional tags
    for service, size in GLOBAL_TAGS.items():
        tags.append(ServiceTag(service, None, service, [addresses.take() for _ in range(size)]))
    return tags


def _rule(name: str, priority: int, access: str, dest: list[str], **kw: object) -> SecurityRule:
    base: dict[str, object] = {
        "protocol": "Tcp",
        "destination_port_ranges": ["443"],
        "source_address_prefixes": ["VirtualNetwork"],
        "source_port_ranges": ["*"],
    }
    base.update(kw)
    return SecurityRule(name, priority, "Outbound", access, destination_address_prefixes=dest, **base)  # type: ignore[arg-type]


def _public_cidr(rng: random.Random) -> str:
    first = rng.choice((13, 20, 40, 52, 104))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice((16, 20, 24))}"


def nsg_rules(rng: random.Random, source: str, target: str) -> list[SecurityRule]:
    """~20 outbound rules in the mix real NSGs show; some NSGs get the replication tags right."""
    right = rng.random() < 0.6
    storage = source if right or rng.random() < 0.5 else target
    hub = target if right else source
    wanted = [f"Storage.{storage.capitalize()}", "AzureActiveDirectory", f"EventHub.{hub.capitalize()}"]
    if right or rng.random() < 0.5:
        wanted.append("AzureSiteRecovery")
    rules: list[SecurityRule] = []
    priority = 100
    for i in range(rng.randint(14, 18)):
        kind = rng.random()
        if kind < 0.3:
            rules.append(
                _rule(
                    f"deny-cidr-{i}",
                    priority,
                    "Deny",
                    [_public_cidr(rng) for _ in range(rng.randint(1, 4))],
                    destination_port_ranges=["*"],
                )
            )
        elif kind < 0.45:
            region = rng.choice(_regions()).capitalize()
            tag = rng.choice(("AzureCloud", "Sql", "AzureMonitor"))
            rules.append(
                _rule(
                    f"allow-{tag}-{i}",
                    priority,
                    "Allow",
                    [f"{tag}.{region}"],
                    destination_port_ranges=["443", "1433"],
                )
            )
        elif kind < 0.55:
            rules.append(_rule(f"deny-udp-{i}", priority, "Deny", ["Internet"], protocol="Udp"))
        elif kind < 0.62:
            rules.append(
                _rule(
                    f"deny-asg-{i}",
                    priority,
                    "Deny",
                    [],
                    destination_application_security_groups=[ASG],
                    destination_port_ranges=["*"],
                )
            )
        elif kind < 0.75:
            rules.append(
                _rule(
                    f"allow-range-{i}",
                    priority,
                    "Allow",
                    [_public_cidr(rng)],
                    destination_port_ranges=["8000-9000"],
                )
            )
        elif kind < 0.85:
            rules.append(
                _rule(
                    f"allow-cloud-{i}",
                    priority,
                    "Allow",
                    ["AzureCloud"],
                    destination_port_ranges=["22", "3389"],
                )
            )
        else:
            rules.append(
                _rule(
                    f"deny-onprem-{i}",
                    priority,
                    "Deny",
                    ["192.168.0.0/16", "172.16.0.0/12"],
                    destination_port_ranges=["*"],
                )
            )
        priority += rng.choice((10, 10, 20, 50))
    if rng.random() < 0.5:
        rules.append(_rule("allow-asr", priority, "Allow", wanted, destination_port_ranges=["80", "443-445"]))
    else:
        rules += [_rule(f"allow-{t}", priority + 5 * k, "Allow", [t]) for k, t in enumerate(wanted)]
    closing = ("deny-internet", 4000, ["Internet"]) if rng.random() < 0.7 else ("deny-all", 4096, ["*"])
    rules.append(
        _rule(
            closing[0],
            closing[1],
            "Deny",
            closing[2],
            protocol="*",
            destination_port_ranges=["*"],
            source_address_prefixes=["*"],
        )
    )
    return rules


def workload(nsgs: int, prefixes: int, seed: int) -> Workload:
    rng = random.Random(seed)
    tags = catalogue(prefixes, rng)
    out = []
    regions = _regions()
    for i in range(nsgs):
        source, target = rng.sample(regions, 2)
        nsg = NetworkSecurityGroup(
            id=f"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/nsg{i}",
            name=f"nsg{i}",
            location=source,
            security_rules=nsg_rules(rng, source, target),
            default_security_rules=list(DEFAULT_OUTBOUND),
        )
        out.append((nsg, source, target))
    return Workload(tags, out)


@dataclass(slots=True)
class Figures:
    nsgs: int
    rules: int
    catalogue_prefixes: int
    destination_prefixes: int  # judged, summed over the NSGs
    generate_seconds: float
    seconds: float
    statuses: Counter[str]
    peak_mib: float | None = None


def _destinations(source: str, target: str) -> list[str]:
    return [
        f"Storage.{source.capitalize()}",
        "AzureActiveDirectory",
        f"EventHub.{target.capitalize()}",
        "AzureSiteRecovery",
    ]


def evaluate(data: Workload) -> tuple[Counter[str], int]:
    """What NET-NSG-OUTBOUND does per NIC: parse the tags (once), compile the NSG, judge."""
    index = ServiceTagIndex(data.tags)
    book = AddressBook(index, Match(PrefixSet([VNET])), {ASG: PrefixSet(["10.0.2.4"])})
    source = Source(NIC, PrefixSet([NIC]))
    statuses: Counter[str] = Counter()
    judged = 0
    for nsg, src, dst in data.nsgs:
        names = _destinations(src, dst)
        destinations = {name: index.expand(name) or PrefixSet() for name in names}
        for verdict in judge(destinations, [compile_nsg(nsg, book)], [source]).values():
            statuses[verdict.status] += 1
        judged += sum(len(index.prefixes(name) or ()) for name in names)
    return statuses, judged


def run(nsgs: int, prefixes: int, seed: int, memory: bool) -> Figures:
    """Time one evaluation; with `memory`, evaluate again under tracemalloc for the peak (tracing
    slows Python several times over, so it never runs during the timed pass)."""
    started = time.perf_counter()
    data = workload(nsgs, prefixes, seed)
    generated = time.perf_counter()
    statuses, judged = evaluate(data)
    figures = Figures(
        nsgs=nsgs,
        rules=sum(len(n.security_rules) + len(n.default_security_rules) for n, _, _ in data.nsgs),
        catalogue_prefixes=sum(len(t.address_prefixes) for t in data.tags),
        destination_prefixes=judged,
        generate_seconds=generated - started,
        seconds=time.perf_counter() - generated,
        statuses=statuses,
    )
    if memory:
        tracemalloc.start()
        evaluate(data)
        figures.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return figures


def show(f: Figures) -> str:
    peak = f", peak {f.peak_mib:,.1f} MiB traced" if f.peak_mib is not None else ""
    return (
        f"{f.nsgs:>7,} NSGs ({f.rules:,} rules), catalogue {f.catalogue_prefixes:,} prefixes, "
        f"{f.destination_prefixes:,} destination prefixes judged: {f.seconds:6.2f} s "
        f"({f.seconds / f.nsgs * 1e3:.2f} ms/NSG; input generated in {f.generate_seconds:.1f} s){peak}\n"
        f"         verdicts {dict(sorted(f.statuses.items()))}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsgs", type=int, default=10_000, help="the full size (the half runs first)")
    parser.add_argument("--prefixes", type=int, default=100_000, help="service-tag catalogue at full size")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args(argv)
    half = run(args.nsgs // 2, args.prefixes // 2, args.seed, memory=False)
    print(show(half))
    full = run(args.nsgs, args.prefixes, args.seed, memory=not args.no_memory)
    print(show(full))
    print(f"time ratio when the input doubles: {full.seconds / half.seconds:.2f} (linear: 2.00)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
