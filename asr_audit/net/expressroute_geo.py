"""ExpressRoute geography: which geopolitical region a peering location or an Azure region is in.

A Standard circuit can only be linked to virtual networks in its peering location's geopolitical
region, Premium lifts that limit within the cloud, and Local reaches only the Azure regions next
to its peering location. Microsoft publishes the mapping as tables; they are kept as data
(`data/expressroute_locations.json`, with their source and the date read) so an update is a data
change, and anything the tables do not list comes back as unknown rather than guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from asr_audit import ids

DATA_FILE = "expressroute_locations.json"
PREMIUM = "premium"
LOCAL = "local"
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def normalize(location: str | None) -> str:
    """`Newport (Wales)`, `newport(wales)` and `NEWPORT(WALES)` are one peering location."""
    return _NOT_ALNUM.sub("", (location or "").lower())


@cache
def _table() -> dict[str, Any]:
    text = (resources.files("asr_audit") / "data" / DATA_FILE).read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def source_note() -> str:
    """One line naming the tables, for findings' evidence and rule pages."""
    sources = _table()["sources"]
    geo, local = sources["geopolitical"], sources["local-regions"]
    return (
        f"{geo['title']} ({geo['url']}, revision {geo['revision']}, read {geo['read']}); "
        f"{local['title']} ({local['url']}, revision {local['revision']}, read {local['read']})"
    )


@dataclass(frozen=True, slots=True)
class Geography:
    """One cloud's tables, keyed by normalized peering location and ARM region name."""

    cloud: str
    location_geo: dict[str, str] = field(default_factory=dict)
    region_geo: dict[str, str] = field(default_factory=dict)
    local: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # key -> the source's spelling

    def key(self, location: str | None) -> str:
        """The comparison key of a peering location: spelling variants and aliases collapse."""
        key = normalize(location)
        return self.aliases.get(key, key)

    def of_location(self, location: str | None) -> str | None:
        return self.location_geo.get(self.key(location))

    def of_region(self, region: str | None) -> str | None:
        return self.region_geo.get(ids.region(region) or "")

    def local_regions(self, location: str | None) -> tuple[str, ...]:
        return self.local.get(self.key(location), ())

    def serving(self, region: str | None) -> list[str]:
        """Peering locations next to `region` (it is one of their local regions)."""
        wanted = ids.region(region)
        return sorted(self.names[k] for k, regions in self.local.items() if wanted in regions)

    def siblings(self, location: str | None) -> list[str]:
        """Other peering locations next to the same Azure regions (Washington DC2 for Washington DC)."""
        own = self.key(location)
        regions = set(self.local_regions(location))
        return sorted(self.names[k] for k, r in self.local.items() if k != own and regions & set(r))


def _listed(
    geos: dict[str, Any], location_geo: dict[str, str], region_geo: dict[str, str], names: dict[str, str]
) -> None:
    for geo, lists in geos.items():
        for region in lists.get("azure_regions", []):
            region_geo[ids.region(region) or ""] = geo
        for location in lists.get("peering_locations", []):
            location_geo[normalize(location)] = geo
            names.setdefault(normalize(location), location)


def _derive(
    local: dict[str, tuple[str, ...]], location_geo: dict[str, str], region_geo: dict[str, str]
) -> None:
    """Fill gaps from co-location: a peering location and its local Azure regions share a
    geopolitical region. Regions first (from listed locations), then unlisted locations; a gap
    that would get two different answers stays a gap."""
    found: dict[str, set[str]] = {}
    for location, regions in local.items():
        geo = location_geo.get(location)
        for region in regions:
            if geo and region not in region_geo:
                found.setdefault(region, set()).add(geo)
    region_geo.update({r: next(iter(g)) for r, g in found.items() if len(g) == 1})
    for location, regions in local.items():
        geos = {region_geo[r] for r in regions if r in region_geo}
        if location not in location_geo and len(geos) == 1:
            location_geo[location] = geos.pop()


@cache
def geography(cloud: str) -> Geography:
    """The tables for `cloud` (`AzureCloud`, `AzureUSGovernment`, `AzureChinaCloud`); empty for
    any other cloud, so every lookup there is unknown."""
    table = _table()
    data = table["clouds"].get(cloud)
    if data is None:
        return Geography(cloud)
    location_geo: dict[str, str] = {}
    region_geo: dict[str, str] = {}
    names: dict[str, str] = {}
    _listed(data["geopolitical_regions"], location_geo, region_geo, names)
    _listed(data.get("supplement", {}).get("geopolitical_regions", {}), location_geo, region_geo, names)
    local_table = data.get("local_azure_regions", {})
    local = {
        normalize(loc): tuple(ids.region(r) or "" for r in regions) for loc, regions in local_table.items()
    }
    names.update({normalize(loc): loc for loc in local_table if normalize(loc) not in names})
    _derive(local, location_geo, region_geo)
    aliases = {normalize(a): normalize(t) for a, t in table.get("aliases", {}).items()}
    return Geography(cloud, location_geo, region_geo, local, aliases, names)


@dataclass(frozen=True, slots=True)
class Linkable:
    """Whether a circuit can be linked to a virtual network in a region."""

    ok: bool | None  # None: the tables cannot tell
    reason: str
    circuit_geo: str | None = None
    region_geo: str | None = None


def linkable(geo: Geography, sku_tier: str | None, peering_location: str | None, region: str) -> Linkable:
    """Premium reaches every region of the cloud; Local only its peering location's local regions;
    any other tier (Standard) the regions of its peering location's geopolitical region."""
    tier = (sku_tier or "").lower()
    where = f"peering location '{peering_location}'" if peering_location else "an unreported peering location"
    if tier == PREMIUM:
        return Linkable(True, "Premium reaches every region of the cloud")
    circuit_geo, region_geo = geo.of_location(peering_location), geo.of_region(region)
    if tier == LOCAL:
        local = geo.local_regions(peering_location)
        if not local:
            return Linkable(None, f"no local Azure region is listed for {where} in the ExpressRoute tables")
        if ids.region(region) in local:
            return Linkable(True, f"{region} is a local region of {where}", circuit_geo, region_geo)
        return Linkable(
            False,
            f"an ExpressRoute Local circuit at {where} reaches only {', '.join(local)}",
            circuit_geo,
            region_geo,
        )
    if circuit_geo is None:
        return Linkable(None, f"{where} is not in the ExpressRoute location table for {geo.cloud}")
    if region_geo is None:
        return Linkable(
            None, f"region '{region}' is not in the ExpressRoute region table for {geo.cloud}", circuit_geo
        )
    if circuit_geo == region_geo:
        return Linkable(True, f"{where} and {region} are both in {circuit_geo}", circuit_geo, region_geo)
    if not tier:
        return Linkable(
            None,
            f"the circuit's SKU tier is not reported and {region} is outside {circuit_geo}",
            circuit_geo,
            region_geo,
        )
    return Linkable(
        False, f"{where} is in {circuit_geo} but {region} is in {region_geo}", circuit_geo, region_geo
    )
