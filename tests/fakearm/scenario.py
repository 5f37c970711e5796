"""Scenario directories: what the fake ARM server serves (format: tests/scenarios/README.md).

A scenario is data only. Resource files hold full ARM bodies exactly as a GET returns them,
so the collectors parse the same shapes they meet in Azure; the server decides routing,
paging and scoping from each body's `id`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

# Resource file stem -> the ARM type it holds. The type drives the list URLs that serve it.
TOP_LEVEL_TYPES: dict[str, str] = {
    "vaults": "Microsoft.RecoveryServices/vaults",
    "storageAccounts": "Microsoft.Storage/storageAccounts",
    "virtualNetworks": "Microsoft.Network/virtualNetworks",
    "networkSecurityGroups": "Microsoft.Network/networkSecurityGroups",
    "routeTables": "Microsoft.Network/routeTables",
    "expressRouteCircuits": "Microsoft.Network/expressRouteCircuits",
    "networkInterfaces": "Microsoft.Network/networkInterfaces",
    "azureFirewalls": "Microsoft.Network/azureFirewalls",
    "firewallPolicies": "Microsoft.Network/firewallPolicies",
    "virtualNetworkGateways": "Microsoft.Network/virtualNetworkGateways",
    "connections": "Microsoft.Network/connections",
    "virtualMachines": "Microsoft.Compute/virtualMachines",
    "disks": "Microsoft.Compute/disks",
    "diskEncryptionSets": "Microsoft.Compute/diskEncryptionSets",
    "loadBalancers": "Microsoft.Network/loadBalancers",
    "natGateways": "Microsoft.Network/natGateways",
    "publicIPAddresses": "Microsoft.Network/publicIPAddresses",
    "privateEndpoints": "Microsoft.Network/privateEndpoints",
    "privateDnsZones": "Microsoft.Network/privateDnsZones",
}

# ARM has no subscription-wide list for these; they are listed per resource group.
RESOURCE_GROUP_ONLY = frozenset({"Microsoft.Network/virtualNetworkGateways", "Microsoft.Network/connections"})

# Vault children, served under `{vaultId}/<stem>` and filtered by the vault id prefix.
VAULT_CHILDREN = (
    "replicationProtectedItems",
    "replicationNetworkMappings",
    "replicationFabrics",
    "replicationProtectionContainerMappings",  # not in Resource Graph: no ARG rows
    "replicationPolicies",
    # The protectable items are listed per container, so the container must exist; neither is in
    # Resource Graph.
    "replicationProtectionContainers",
    "replicationProtectableItems",
)

# Firewall policy children, served the same way under `{policyId}/<stem>`.
POLICY_CHILDREN = ("ruleCollectionGroups",)
# Private DNS zone children, the same way under `{zoneId}/<stem>`.
ZONE_CHILDREN = ("virtualNetworkLinks",)
CHILD_COLLECTIONS = VAULT_CHILDREN + POLICY_CHILDREN + ZONE_CHILDREN

# Child resources ARM serves one at a time, each at its own id (`{accountId}/blobServices/default`).
SINGLE_CHILDREN = ("blobServices",)

# Role assignments (`properties.scope` says where each was made), listed per subscription without
# a filter: those made at the subscription, below it and above it (its management groups, "/").
ROLE_ASSIGNMENTS = "roleAssignments"


# When every scenario's answers are dated unless it says otherwise (`clock:` in scenario.yaml): the
# estates' dates (agent expiry, last test failover) are written relative to it.
DEFAULT_CLOCK = datetime(2026, 12, 6, 12, 0, 0, tzinfo=timezone.utc)


class ScenarioError(ValueError):
    """A scenario directory that does not follow the format (a typo must not pass silently)."""


class RawBody(dict[str, Any]):
    """A resource body kept as its JSON text (`Scenario.load(..., lean=True)`), with only what the
    server routes and scopes by decoded: `id`, `name`, `type`, `location` and `properties.scope`.

    For the benchmarks: decoded, a million-resource tenant's 7 GB of JSON would not fit in memory
    beside the scan being measured. Answers carry the text as it is, so the client reads the whole
    body. What needs more of a body is not served from a lean scenario: Resource Graph (its rows
    are the decoded bodies) and the inline children of a body (`{vnet}/subnets`).
    """

    __slots__ = ("text",)

    def __init__(self, body: dict[str, Any], text: str) -> None:
        super().__init__((key, body[key]) for key in ("id", "name") if key in body)
        for key in ("type", "location"):  # shared by many bodies
            if isinstance(body.get(key), str):
                self[key] = sys.intern(body[key])
        properties = body.get("properties")
        if isinstance(properties, dict) and "scope" in properties:
            self["properties"] = {"scope": properties["scope"]}
        self.text = text


@dataclass(slots=True)
class Fault:
    """An injected answer for requests whose path matches `path` (case-insensitive regex)."""

    path: re.Pattern[str]
    status: int
    times: int | None = None  # None = every time
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # raw; None = an ARM error body fitting the status
    # Only requests whose decoded query also matches (e.g. `\$skiptoken=2$`: one page in the middle)
    query: re.Pattern[str] | None = None

    def matches(self, path: str, query: str) -> bool:
        return bool(self.path.search(path)) and (self.query is None or bool(self.query.search(query)))

    @classmethod
    def from_yaml(cls, raw: Any) -> Fault:
        if not isinstance(raw, dict) or "path" not in raw or "status" not in raw:
            raise ScenarioError(f"fault needs path and status: {raw!r}")
        unknown = set(raw) - {"path", "status", "times", "headers", "body", "query"}
        if unknown:
            raise ScenarioError(f"fault has unknown keys {sorted(unknown)}")
        return cls(
            path=re.compile(str(raw["path"]), re.IGNORECASE),
            status=int(raw["status"]),
            times=None if raw.get("times") is None else int(raw["times"]),
            headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
            body=None if raw.get("body") is None else str(raw["body"]),
            query=None if raw.get("query") is None else re.compile(str(raw["query"]), re.IGNORECASE),
        )


@dataclass(slots=True)
class SubscriptionInfo:
    id: str
    display_name: str
    tenant_id: str
    state: str = "Enabled"

    def body(self) -> dict[str, Any]:
        """The subscription as `GET /subscriptions` returns it."""
        return {
            "id": f"/subscriptions/{self.id}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": self.id,
            "tenantId": self.tenant_id,
            "displayName": self.display_name,
            "state": self.state,
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        }


@dataclass(slots=True)
class ManagementGroup:
    """A management group: the groups and subscriptions directly under it (scenario
    `managementGroups`). Its subscriptions need not be in the scenario's `subscriptions`: one
    that is not stands for a subscription the credential cannot read."""

    id: str
    display_name: str
    children: list[ManagementGroup] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, raw: Any) -> ManagementGroup:
        if not isinstance(raw, dict) or "id" not in raw:
            raise ScenarioError(f"management group needs an id: {raw!r}")
        unknown = set(raw) - {"id", "displayName", "children", "subscriptions"}
        if unknown:
            raise ScenarioError(f"management group {raw['id']} has unknown keys {sorted(unknown)}")
        return cls(
            id=str(raw["id"]),
            display_name=str(raw.get("displayName", raw["id"])),
            children=[cls.from_yaml(c) for c in raw.get("children") or []],
            subscriptions=[str(s) for s in raw.get("subscriptions") or []],
        )

    def walk(self) -> Iterator[ManagementGroup]:
        """This group and every group below it."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(slots=True)
class Scenario:
    """An estate in memory; `load()` reads one from a directory, benchmarks build one directly."""

    subscriptions: list[SubscriptionInfo] = field(default_factory=list)
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # file stem -> bodies
    service_tags: dict[str, Any] | None = None
    # Compute offers per subscription (id, lower case): the `skus` list items (each served for
    # the regions in its `locations`) and, per region, the `usages` items. ARM gives neither an id.
    skus: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    usages: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    notes: str = ""
    management_groups: list[ManagementGroup] = field(default_factory=list)  # the roots of each tree
    # The server's clock, sent as every response's `Date` header. Fixed, so a recording and the
    # live scans compared with it see the same moment, and the estates' dates keep their meaning.
    clock: datetime = DEFAULT_CLOCK
    lean: bool = False  # resource bodies are `RawBody`: kept as text

    @classmethod
    def load(cls, directory: str | Path, *, lean: bool = False) -> Scenario:
        """`lean`: keep resource bodies as text (`RawBody`); each resource file must then hold one
        body per line, as bench/synth_tenant.py writes them."""
        root = Path(directory)
        meta = yaml.safe_load((root / "scenario.yaml").read_text(encoding="utf-8")) or {}
        if not isinstance(meta, dict):
            raise ScenarioError(f"{root}/scenario.yaml must be a mapping")
        subscriptions = [
            SubscriptionInfo(
                id=str(s["id"]),
                display_name=str(s.get("displayName", s["id"])),
                tenant_id=str(s.get("tenantId", "00000000-0000-0000-0000-000000000000")),
                state=str(s.get("state", "Enabled")),
            )
            for s in meta.get("subscriptions") or []
        ]
        resources: dict[str, list[dict[str, Any]]] = {}
        for path in sorted((root / "resources").glob("*.json")):
            if path.stem not in (*TOP_LEVEL_TYPES, *CHILD_COLLECTIONS, *SINGLE_CHILDREN, ROLE_ASSIGNMENTS):
                raise ScenarioError(f"{path}: unknown resource file (see tests/scenarios/README.md)")
            bodies = _lean_bodies(path) if lean else json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(bodies, list) or not all(isinstance(b, dict) and "id" in b for b in bodies):
                raise ScenarioError(f"{path}: expected a JSON array of resource bodies with an id")
            resources[path.stem] = bodies
        groups = [ManagementGroup.from_yaml(g) for g in meta.get("managementGroups") or []]
        group_ids = [g.id.lower() for top in groups for g in top.walk()]
        if len(group_ids) != len(set(group_ids)):
            raise ScenarioError(f"{root}/scenario.yaml: a management group id appears twice")
        tags_path = root / "serviceTags.json"
        service_tags = json.loads(tags_path.read_text(encoding="utf-8")) if tags_path.exists() else None
        compute = _json_object(root / "computeSkus.json"), _json_object(root / "computeUsages.json")
        return cls(
            subscriptions=subscriptions,
            resources=resources,
            service_tags=service_tags,
            skus={k.lower(): v for k, v in compute[0].items()},
            usages={k.lower(): v for k, v in compute[1].items()},
            faults=[Fault.from_yaml(f) for f in meta.get("faults") or []],
            regions=[str(r) for r in meta.get("regions") or []],
            notes=str(meta.get("notes") or ""),
            management_groups=groups,
            clock=_clock(meta.get("clock"), root),
            lean=lean,
        )


def _lean_bodies(path: Path) -> list[RawBody]:
    """A resource file laid out as `[`, one body per line (each but the last ending in `,`), `]`."""
    bodies = []
    with path.open(encoding="utf-8") as lines:
        if lines.readline().strip() != "[":
            raise ScenarioError(f"{path}: a lean scenario needs one body per line (see RawBody)")
        for number, line in enumerate(lines, start=2):
            text = line.strip().removesuffix(",")
            if text == "]":
                break
            try:
                body = json.loads(text)
            except ValueError:
                raise ScenarioError(
                    f"{path}:{number}: not one JSON body (a lean scenario needs one body per line)"
                ) from None
            if not isinstance(body, dict):
                raise ScenarioError(f"{path}:{number}: expected a resource body")
            bodies.append(RawBody(body, text))
        else:  # cut short between two bodies: every line parsed, yet bodies may be missing
            raise ScenarioError(f"{path}: ends before its closing `]`")
    return bodies


def _json_object(path: Path) -> dict[str, Any]:
    """An optional scenario file keyed by subscription id; {} when absent."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected an object keyed by subscription id")
    return data


def _clock(raw: Any, root: Path) -> datetime:
    """`clock:` as YAML gives it (a timestamp, or a string in ISO 8601), in UTC."""
    if raw is None:
        return DEFAULT_CLOCK
    try:
        moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{root}/scenario.yaml: clock {raw!r} is not an ISO 8601 time") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
