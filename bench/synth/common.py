"""Shared state and value helpers for the synthetic-tenant builders.

One `Estate` per subscription carries what later builders must reference (subnets for NICs,
NSGs for subnets, VMs for protected items), so each family module stays independent of the
others except through this state, and the build order in `bench.synth_tenant` is explicit.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

Body = dict[str, Any]

SOURCE_REGION = "eastus"
TARGET_REGION = "westus"
REGIONS = (SOURCE_REGION, TARGET_REGION)


class Values:
    """Seeded GUIDs, timestamps and etags, so the same arguments write the same bytes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def etag(self) -> str:
        return f'W/"{self.guid()}"'

    def timestamp(self) -> str:
        day = self.rng.randrange(1, 28)
        month = self.rng.randrange(1, 13)
        seconds = self.rng.randrange(86_400)
        micros = self.rng.randrange(10_000_000)
        clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return f"2024-{month:02d}-{day:02d}T{clock}.{micros:07d}Z"

    def mac(self) -> str:
        return "00-0D-3A-" + "-".join(f"{self.rng.randrange(256):02X}" for _ in range(3))


def arm_id(sub: str, rg: str, rtype: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{rtype}/{name}"


def asr_id(resource_id: str) -> str:
    """ASR spells ids with `/Subscriptions/` (capital S)."""
    return "/Subscriptions/" + resource_id[len("/subscriptions/") :]


def dotted(address: int) -> str:
    """An IPv4 address as text (the generator plans addresses as integers)."""
    return ".".join(str(address >> shift & 255) for shift in (24, 16, 8, 0))


def skewed(rng: random.Random, low: int, high: int) -> int:
    """A count in [low, high], most near `low` and a few near `high` (mean ~ low + (high - low) / 9):
    real NSGs and route tables are mostly short, with a long tail of very large ones."""
    return low + int((high - low) * rng.random() ** 8)


def upper_rg(resource_id: str) -> str:
    """Compute returns some references with the resource group upper-cased, as Azure does."""
    parts = resource_id.split("/")
    parts[4] = parts[4].upper()
    return "/".join(parts)


@dataclass(slots=True)
class Subnet:
    id: str
    prefix: str
    body: Body


@dataclass(slots=True)
class Net:
    """What later builders need to know about a VNet."""

    id: str
    name: str
    region: str
    hub: bool
    subnets: list[Subnet] = field(default_factory=list)
    body: Body = field(default_factory=dict)


@dataclass(slots=True)
class Estate:
    """One subscription being built: planned counts, bodies so far, and cross-references."""

    sub: str
    index: int
    counts: dict[str, int]
    vnet_offset: int  # global index of this subscription's first VNet (address plan)
    v: Values
    # The `scale` profile (bench/scale.py): NSGs of 20-200 rules, route tables of 10-400 routes,
    # recovery VNets that reuse source address space, ExpressRoute circuits shared across
    # subscriptions. Off, the output is what `scan_bench` has always measured.
    scale: bool = False
    shared: dict[str, str] = field(default_factory=dict)  # tenant-wide: region -> shared circuit id
    out: dict[str, list[Body]] = field(default_factory=dict)
    nets: list[Net] = field(default_factory=list)
    nsgs: dict[str, list[Body]] = field(default_factory=lambda: {r: [] for r in REGIONS})
    route_tables: dict[str, list[Body]] = field(default_factory=lambda: {r: [] for r in REGIONS})
    storage: dict[str, list[Body]] = field(default_factory=lambda: {r: [] for r in REGIONS})
    firewall_ip: dict[str, str] = field(default_factory=dict)
    gateways: dict[str, dict[str, str]] = field(default_factory=lambda: {r: {} for r in REGIONS})
    vms: list[tuple[Body, list[Body]]] = field(default_factory=list)  # (vm, its disks)

    def __post_init__(self) -> None:
        self.out = {stem: [] for stem in self.counts}

    @property
    def rng(self) -> random.Random:
        return self.v.rng

    def split(self, total: int) -> dict[str, int]:
        """70 % of a count in the source region, the rest (at least one) in the target region."""
        target = max(1, total * 3 // 10)
        return {SOURCE_REGION: total - target, TARGET_REGION: target}

    def rg(self, kind: str, region: str) -> str:
        return f"rg-{kind}-{region}"

    def tags(self) -> dict[str, str]:
        return {
            "env": self.rng.choice(["prod", "prod", "test"]),
            "costCenter": f"cc-{self.rng.randrange(100, 999)}",
        }
