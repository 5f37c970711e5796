"""Generate a synthetic Azure tenant as a fake-ARM scenario directory (tests/scenarios/README.md).

The benchmark needs an estate the size of a real enterprise landing zone, in the exact REST
shapes the collectors parse (api-examples/), so that both the request pattern (pages per list,
vault -> protected items, resource group -> gateways) and the per-resource parsing cost are
what a real scan meets. Every collected type is present, the references between resources hold
(NIC -> subnet, VM -> NIC/disks, protected item -> VM/cache account/recovery VNet, subnet ->
NSG/route table, gateway -> GatewaySubnet, connection -> circuit), and the output is a pure
function of the arguments (seeded), so figures from two runs are comparable.

Usage: python -m bench.synth_tenant --subscriptions 4 --resources 10000 --out DIR
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from bench.synth import network, recovery, workloads
from bench.synth.common import REGIONS, Body, Estate, Values
from bench.synth.service_tags import SERVICE_TAG_SERVICES, build_service_tags

GENERATOR_FILE = "generator.json"  # the shape a directory was made with (ignored by the fake ARM)
GENERATOR_VERSION = 7  # bump when the output changes, so benchmarks regenerate stale tenants

# Per subscription, whatever its size: the shared hub of each region and the DR control plane.
FIXED_PER_SUBSCRIPTION = {
    "vaults": 2,
    "replicationNetworkMappings": 8,
    "expressRouteCircuits": 2,
    "virtualNetworkGateways": 4,  # an ExpressRoute and a VPN gateway in each hub
    "connections": 4,
    "azureFirewalls": 2,
}

# The `plain` profile is the tenant issue 10 measured its first target on: per subscription one
# vault and nothing replicated yet (an audit in readiness mode), equal counts of VNets, NSGs, route
# tables, NICs, VMs and their OS disks, the rest storage accounts; at 4 x 7,008 that is 1,000 of
# each, 1,004 storage accounts and 4 vaults. Hubs without gateways, firewalls or circuits.
PLAIN_FIXED = {
    "vaults": 1,
    "replicationNetworkMappings": 0,
    "expressRouteCircuits": 0,
    "virtualNetworkGateways": 0,
    "connections": 0,
    "azureFirewalls": 0,
    "replicationProtectedItems": 0,
}
PLAIN_EQUAL = (
    "virtualNetworks",
    "networkSecurityGroups",
    "routeTables",
    "networkInterfaces",
    "virtualMachines",
    "disks",
)

# How the rest of a subscription's budget splits (percent): a VM brings a NIC and 1.5 disks, half
# the VMs are protected, and the network estate scales with the workload count.
VARIABLE_WEIGHTS = {
    "virtualMachines": 16,
    "networkInterfaces": 16,
    "replicationProtectedItems": 8,
    "virtualNetworks": 10,
    "networkSecurityGroups": 12,
    "routeTables": 6,
    "storageAccounts": 8,
    # disks take the remainder (about 24)
}
MIN_PER_SUBSCRIPTION = 100


class SynthError(ValueError):
    """Arguments that cannot make a coherent tenant."""


@dataclass(frozen=True, slots=True)
class TenantShape:
    subscriptions: int = 4
    resources: int = 10_000
    seed: int = 1
    service_tags: int = 800  # entries in serviceTags.json (the real Public list has ~3,000)
    # "scale": large NSGs and route tables, reused address space, shared circuits; "plain": the
    # issue's target-1 tenant (PLAIN_FIXED)
    profile: str = "scan"

    def budgets(self) -> list[int]:
        """Resources per subscription, summing exactly to `resources`."""
        base, extra = divmod(self.resources, self.subscriptions)
        return [base + (1 if i < extra else 0) for i in range(self.subscriptions)]

    def validate(self) -> None:
        if self.subscriptions < 1:
            raise SynthError("--subscriptions must be at least 1")
        if self.resources < self.subscriptions * MIN_PER_SUBSCRIPTION:
            raise SynthError(f"--resources must be at least {MIN_PER_SUBSCRIPTION} per subscription")
        if self.service_tags < len(SERVICE_TAG_SERVICES):
            raise SynthError(f"--service-tags must be at least {len(SERVICE_TAG_SERVICES)}")
        if self.profile not in PROFILES:
            raise SynthError(f"--profile must be one of {', '.join(PROFILES)}")


PROFILES = ("scan", "scale", "plain")


def plan_counts(budget: int, profile: str = "scan") -> dict[str, int]:
    """How many resources of each scenario file one subscription with `budget` resources gets."""
    if profile == "plain":
        counts = dict(PLAIN_FIXED)
        each = (budget - sum(counts.values())) // (len(PLAIN_EQUAL) + 1)
        counts.update(dict.fromkeys(PLAIN_EQUAL, each))
        counts["storageAccounts"] = budget - sum(counts.values())
        return counts
    variable = budget - sum(FIXED_PER_SUBSCRIPTION.values())
    counts = dict(FIXED_PER_SUBSCRIPTION)
    for stem, weight in VARIABLE_WEIGHTS.items():
        counts[stem] = max(4 if stem == "virtualNetworks" else 2, variable * weight // 100)
    counts["disks"] = budget - sum(counts.values())
    if counts["disks"] < counts["virtualMachines"]:
        raise SynthError("budget too small to give every VM an OS disk")
    return counts


def build_subscription(estate: Estate) -> dict[str, list[Body]]:
    """Each step references what the earlier ones built (subnets need NSGs, NICs need subnets...)."""
    network.build_nsgs(estate)
    network.build_route_tables(estate)
    network.build_virtual_networks(estate)
    workloads.build_storage_accounts(estate)
    network.build_hubs(estate)
    workloads.build_workloads(estate)
    recovery.build_recovery(estate)
    for stem, bodies in estate.out.items():
        if len(bodies) != estate.counts[stem]:
            raise AssertionError(f"{stem}: built {len(bodies)}, planned {estate.counts[stem]}")
    return estate.out


def subscriptions(shape: TenantShape) -> Iterator[tuple[Body, dict[str, list[Body]]]]:
    """Each subscription's body and resources, built one at a time, then (`{}`, {"serviceTags":
    [the service-tags body]}) last: bench/scale.py turns each into inventory records and drops the
    JSON before the next, so a million-resource tenant never sits in memory as JSON."""
    shape.validate()
    values = Values(random.Random(shape.seed))
    tenant_id = values.guid()
    vnet_offset = 0
    shared: dict[str, str] = {}
    first = ""
    for index, budget in enumerate(shape.budgets()):
        sub = values.guid()
        first = first or sub
        body = {"id": sub, "displayName": f"lz-{index:02d}-prod", "tenantId": tenant_id, "state": "Enabled"}
        counts = plan_counts(budget, shape.profile)
        if shape.profile != "scale" and vnet_offset + counts["virtualNetworks"] > network.MAX_VNETS:
            raise SynthError(f"more than {network.MAX_VNETS} VNets: lower --resources")
        estate = Estate(
            sub, index, counts, vnet_offset, values, scale=shape.profile == "scale", shared=shared
        )
        yield body, build_subscription(estate)
        vnet_offset += counts["virtualNetworks"]
    # Azure's tags, not the tenant's: drawn from their own generator, so every tenant size of one
    # seed judges the same destinations (drawn after the subscriptions, a 10k and a 100k tenant
    # got tags of 13 and 30 ranges on average, and the growth exponent measured that too).
    tag_values = Values(random.Random(f"service-tags-{shape.seed}"))
    yield {}, {"serviceTags": [build_service_tags(tag_values, shape.service_tags, first)]}


def write(shape: TenantShape, out: Path) -> dict[str, int]:
    """Lay the tenant out as a scenario directory, one subscription at a time; what each resource
    file holds. Previous `out/resources/*.json` files go.

    Each file is a JSON array with one body per line: the fake ARM can then keep a million bodies
    as text (`Scenario.load(..., lean=True)`) instead of decoding 7 GB of JSON into dicts, and the
    generator never holds more than one subscription's bodies."""
    res_dir = out / "resources"
    res_dir.mkdir(parents=True, exist_ok=True)
    (out / GENERATOR_FILE).unlink(missing_ok=True)  # until the new one is complete, nothing to reuse
    for old in res_dir.glob("*.json"):
        old.unlink()
    files: dict[str, TextIO] = {}
    counts: dict[str, int] = {}
    subs: list[Body] = []
    skus: dict[str, list[Body]] = {}
    usages: dict[str, dict[str, list[Body]]] = {}
    try:
        for sub, built in subscriptions(shape):
            if not sub:
                tags = json.dumps(built["serviceTags"][0], separators=(",", ":"))
                (out / "serviceTags.json").write_text(tags, encoding="utf-8")
                continue
            subs.append(sub)
            built["blobServices"] = workloads.blob_services(built["storageAccounts"])
            skus[sub["id"]], usages[sub["id"]] = workloads.compute_offers(built["virtualMachines"])
            for stem, bodies in built.items():
                if stem not in files:
                    files[stem] = (res_dir / f"{stem}.json").open("w", encoding="utf-8")
                    files[stem].write("[")
                for body in bodies:
                    files[stem].write(",\n" if counts.get(stem) else "\n")
                    files[stem].write(json.dumps(body, separators=(",", ":")))
                    counts[stem] = counts.get(stem, 0) + 1
    finally:
        for stream in files.values():
            stream.write("\n]\n")
            stream.close()
    for name, offers in (("computeSkus.json", skus), ("computeUsages.json", usages)):
        (out / name).write_text(json.dumps(offers, separators=(",", ":")), encoding="utf-8")
    meta = {
        "notes": f"Synthetic tenant from bench/synth_tenant.py: {shape.subscriptions} subscriptions, "
        f"{shape.resources} resources, seed {shape.seed}.",
        "regions": list(REGIONS),
        "subscriptions": subs,
    }
    (out / "scenario.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    stamp = {"version": GENERATOR_VERSION, "shape": asdict(shape), "counts": counts}
    (out / GENERATOR_FILE).write_text(json.dumps(stamp), encoding="utf-8")
    return counts


def _stamp(scenario_dir: Path) -> dict[str, Any] | None:
    try:
        stamp = json.loads((scenario_dir / GENERATOR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and stamp.get("version") == GENERATOR_VERSION else None


def generated_with(scenario_dir: Path) -> TenantShape | None:
    """The shape a directory was generated with, so the benchmark can reuse it when it matches."""
    stamp = _stamp(scenario_dir)
    try:
        return None if stamp is None else TenantShape(**stamp["shape"])
    except (TypeError, KeyError):
        return None


def resource_counts(scenario_dir: Path) -> dict[str, int]:
    """What each resource file of a generated tenant holds, from its stamp: a complete scan must
    collect exactly this, and counting by decoding the files took the coordinator 1.3 GB at 100k."""
    stamp = _stamp(scenario_dir)
    if stamp is None or not isinstance(stamp.get("counts"), dict):
        raise SynthError(f"{scenario_dir} was not generated by this version of bench.synth_tenant")
    return {str(stem): int(n) for stem, n in stamp["counts"].items()}


def ensure(shape: TenantShape, out: Path) -> bool:
    """Generate into `out` unless it already holds this exact shape; whether it generated."""
    if generated_with(out) == shape:
        return False
    write(shape, out)
    return True


def main(argv: list[str] | None = None) -> int:
    default = TenantShape()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=default.subscriptions)
    parser.add_argument(
        "--resources",
        type=int,
        default=default.resources,
        help="ARM resource bodies in total, vault children included (not service tags)",
    )
    parser.add_argument(
        "--service-tags", type=int, default=default.service_tags, help="entries in serviceTags.json"
    )
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--profile", choices=PROFILES, default=default.profile)
    parser.add_argument("--out", type=Path, required=True, help="scenario directory to (over)write")
    args = parser.parse_args(argv)
    shape = TenantShape(args.subscriptions, args.resources, args.seed, args.service_tags, args.profile)
    try:
        counts = write(shape, args.out)
    except SynthError as exc:
        parser.error(str(exc))
    counts.pop("blobServices")  # children outside the --resources budget
    summary = ", ".join(f"{stem} {n}" for stem, n in sorted(counts.items()))
    print(f"wrote {args.out}: {sum(counts.values())} resources ({summary})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
