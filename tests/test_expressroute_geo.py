"""The ExpressRoute geography tables: lookups, spellings, derivations, clouds, and the data file."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from asr_audit.access.clouds import CLOUDS
from asr_audit.net.expressroute_geo import DATA_FILE, geography, linkable, normalize, source_note

PUBLIC = geography("AzureCloud")


@pytest.mark.parametrize(
    ("location", "region"),
    [
        ("Toronto", "eastus"),  # Canada and the US are one geopolitical region, North America
        ("Washington DC", "canadacentral"),
        ("Montreal", "westus3"),
        ("Amsterdam", "northeurope"),
        ("Sao Paulo", "brazilsouth"),
        ("Queretaro (Mexico)", "mexicocentral"),  # current page, spelled with a space
    ],
)
def test_a_standard_circuit_reaches_its_geopolitical_region(location: str, region: str) -> None:
    verdict = linkable(PUBLIC, "Standard", location, region)
    assert verdict.ok is True
    assert verdict.circuit_geo == verdict.region_geo


@pytest.mark.parametrize(
    ("location", "region", "circuit_geo", "region_geo"),
    [
        ("Sao Paulo", "westus2", "South America", "North America"),
        ("London", "eastus", "Europe", "North America"),
        ("Sydney", "australiacentral", "Oceania", "Australia Government"),
        ("Dubai", "qatarcentral", "UAE", "Qatar"),
    ],
)
def test_a_standard_circuit_does_not_cross_geopolitical_regions(
    location: str, region: str, circuit_geo: str, region_geo: str
) -> None:
    verdict = linkable(PUBLIC, "Standard", location, region)
    assert (verdict.ok, verdict.circuit_geo, verdict.region_geo) == (False, circuit_geo, region_geo)
    assert location in verdict.reason and region in verdict.reason


@pytest.mark.parametrize("tier", ["Premium", "premium", "PREMIUM"])
def test_premium_reaches_everywhere(tier: str) -> None:
    assert linkable(PUBLIC, tier, "Sao Paulo", "westus2").ok is True


def test_local_reaches_only_its_local_regions() -> None:
    assert linkable(PUBLIC, "Local", "Washington DC", "eastus2").ok is True
    same_geo = linkable(PUBLIC, "Local", "Washington DC", "westus2")
    assert same_geo.ok is False and "eastus, eastus2" in same_geo.reason
    assert linkable(PUBLIC, "Local", "Atlanta", "eastus").ok is None  # no local region listed there


def test_what_the_tables_do_not_list_is_unknown() -> None:
    place = linkable(PUBLIC, "Standard", "Atlantis", "eastus")
    assert place.ok is None and "'Atlantis'" in place.reason
    region = linkable(PUBLIC, "Standard", "Chicago", "chilecentral")
    assert region.ok is None and "chilecentral" in region.reason
    assert linkable(PUBLIC, "Standard", None, "eastus").ok is None


def test_an_unreported_tier_is_fine_inside_the_region_and_unknown_outside() -> None:
    assert linkable(PUBLIC, None, "Chicago", "westus2").ok is True
    assert linkable(PUBLIC, None, "Chicago", "westeurope").ok is None


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Newport (Wales)", "Newport(Wales)"),
        ("NEWPORT(WALES)", "Newport(Wales)"),
        ("washington dc", "Washington DC"),
        ("Hong Kong SAR", "Hong Kong"),  # an older name, kept as an alias
    ],
)
def test_peering_location_spellings_collapse(spelling: str, canonical: str) -> None:
    assert PUBLIC.key(spelling) == PUBLIC.key(canonical)
    assert PUBLIC.of_location(spelling) == PUBLIC.of_location(canonical) is not None


def test_numbered_locations_stay_distinct() -> None:
    assert PUBLIC.key("Washington DC") != PUBLIC.key("Washington DC2")
    assert normalize("Washington DC2") == "washingtondc2"


def test_regions_accept_display_names() -> None:
    assert PUBLIC.of_region("West US 2") == PUBLIC.of_region("westus2") == "North America"


@pytest.mark.parametrize(
    ("region", "geo"),
    [
        ("spaincentral", "Europe"),  # via Madrid, whose local region it is
        ("newzealandnorth", "Oceania"),  # via Auckland
        ("brazilsoutheast", "South America"),  # via Rio de Janeiro
        ("indonesiacentral", "Asia"),  # via Jakarta
    ],
)
def test_regions_missing_from_the_table_are_derived_from_co_located_peering_locations(
    region: str, geo: str
) -> None:
    assert PUBLIC.of_region(region) == geo


def test_locations_missing_from_the_table_are_derived_from_their_local_region_or_stay_unknown() -> None:
    assert PUBLIC.of_location("Portland") == "North America"  # local region westus2
    assert PUBLIC.of_location("Stockholm2") == "Europe"  # local region swedencentral
    assert PUBLIC.of_location("Brussels") is None  # no local region listed: unknown, not guessed


def test_nearby_locations() -> None:
    assert PUBLIC.siblings("Washington DC") == ["Washington DC2"]
    assert set(PUBLIC.serving("westus2")) >= {"Seattle", "Quincy"}


def test_national_clouds_have_their_own_geopolitical_regions() -> None:
    china = geography("AzureChinaCloud")
    verdict = linkable(china, "Standard", "Shanghai", "chinanorth2")
    assert (verdict.ok, verdict.circuit_geo, verdict.region_geo) == (False, "China East", "China North")
    assert linkable(china, "Standard", "Beijing2", "chinanorth3").ok is True
    gov = geography("AzureUSGovernment")
    assert linkable(gov, "Standard", "Washington DC", "usgovtexas").ok is True
    assert gov.local_regions("Washington DC") == ("usdodeast", "usgovvirginia")
    # the public table knows nothing of government regions, and an unknown cloud knows nothing at all
    assert linkable(PUBLIC, "Standard", "Washington DC", "usgovvirginia").ok is None
    assert linkable(geography("Custom"), "Standard", "Washington DC", "eastus").ok is None


def test_every_cloud_profile_has_tables() -> None:
    for name in CLOUDS:
        assert geography(name).region_geo, name


# --- the data file ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data() -> dict:
    path = resources.files("asr_audit").joinpath("data", DATA_FILE)
    assert path.is_file()
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_source_names_page_revision_and_date_read(data: dict) -> None:
    for name, source in data["sources"].items():
        assert source["url"].startswith("https://learn.microsoft.com/"), name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", source["read"]), name
        assert source["title"] and source["revision"], name
    assert "read 2026-11-23" in source_note()


def test_regions_are_arm_names_and_no_location_is_in_two_regions(data: dict) -> None:
    for cloud, tables in data["clouds"].items():
        geos = dict(tables["geopolitical_regions"])
        seen: dict[str, str] = {}
        for geo, lists in [
            *geos.items(),
            *tables.get("supplement", {}).get("geopolitical_regions", {}).items(),
        ]:
            for region in lists["azure_regions"]:
                assert re.fullmatch(r"[a-z0-9]+", region), (cloud, region)
            for location in lists["peering_locations"]:
                assert seen.setdefault(normalize(location), geo) == geo, (cloud, location)
        for location, regions in tables["local_azure_regions"].items():
            assert regions and all(re.fullmatch(r"[a-z0-9]+", r) for r in regions), (cloud, location)
