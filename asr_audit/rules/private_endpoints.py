"""ASR-PRIVATE-ENDPOINT: a vault reached through private endpoints from one side of its replication only.

Once a vault has a private endpoint for Site Recovery it is locked down: only networks with one reach
it. Replication runs from the source VNet, reprotection and failback from the recovery VNet, so the
A2A private-endpoint page asks for an endpoint in each (hub and spoke: one in the hub serves the
peered spokes) and for `privatelink.siterecovery.windowsazure.com` to resolve in both. A gap shows
only at failover, when the failed-over machines cannot be protected back.

Read the no-false-positive way where the page allows more than one reading: an endpoint in a VNet
peered with the judged one covers it (the page's hub and spoke), a VNet with custom DNS servers
resolves through its forwarders (its own zone links decide nothing), an endpoint counts in any
approval state, and a VNet this scan did not read (its peerings and DNS servers unknown) is not
judged. The private endpoint, zone and link lists are global facts (an endpoint or zone in any
subscription counts): a gap in one of them anywhere leaves the part of the verdict it decides to
the gap's `unknown` finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.findings import Finding, RuleMeta, Severity
from asr_audit.inventory import SITE_RECOVERY_ZONE, Vault, VirtualNetwork
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common.gaps import coverage_gaps
from asr_audit.rules.common.naming import VNET_TYPE

PRIVATE_ENDPOINTS_DOCS = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-how-to-enable-replication-private-endpoints"
SITE_RECOVERY_GROUP = "azuresiterecovery"  # the vault's private-link sub-resource, as ARM spells it
_ENDPOINT_INPUTS = ("private_endpoints",)
_DNS_INPUTS = ("private_dns_zones", "virtual_network_links")

ASR_PRIVATE_ENDPOINT = RuleMeta(
    id="ASR-PRIVATE-ENDPOINT",
    title="A vault with Site Recovery private endpoints is not reachable privately from a replication VNet",
    severity=Severity.HIGH,
    category="asr",
    needs=(
        "vaults",
        "protected_items",
        "network_mappings",
        "virtual_networks",  # peerings (hub and spoke) and custom DNS servers
        "network_interfaces",  # the source VNets of replicated VMs
        *_ENDPOINT_INPUTS,
        *_DNS_INPUTS,
    ),
    rationale=(
        "A vault with a private endpoint for Site Recovery is locked down: only networks with a "
        "private endpoint reach it. Replication runs from the source VNet; after a failover, "
        "reprotection and failback run from the recovery VNet. Microsoft's page asks for one private "
        "endpoint for the vault in the source network and another in the recovery network (in a hub "
        "and spoke, one in the hub), and for the private DNS zone "
        f"{SITE_RECOVERY_ZONE} to be linked to them, so that the vault's names resolve to the private "
        "addresses. Without them, failover works but the failed-over machines cannot be protected "
        "again, and the DR plan ends after one failover."
    ),
    remediation=(
        "Create a private endpoint for the vault (target sub-resource Azure Site Recovery) in the VNet "
        "named, or in a hub VNet peered with it, with private DNS integration on; or link the VNet to "
        f"the {SITE_RECOVERY_ZONE} zone that holds the vault's records (Private DNS zone > Virtual "
        "network links > Add). A VNet using custom DNS servers needs a conditional forwarder to "
        "Azure DNS (168.63.129.16) from a network linked to the zone instead."
    ),
    microsoft_docs=PRIVATE_ENDPOINTS_DOCS,
    source=(
        "Replicate machines with private endpoints (learn.microsoft.com, revision 2025-05-11 as read; "
        "the section text read is that of the 2020-07-13 revision, whose source/recovery endpoint and "
        "hub-and-spoke wording the front matter of 2025-05-11 keeps); PrivateEndpoints_ListBySubscription "
        "(Microsoft.Network 2025-03-01), PrivateZones_List and VirtualNetworkLinks_List "
        "(Microsoft.Network privateDnsZones 2024-06-01)"
    ),
    references=("https://learn.microsoft.com/azure/private-link/private-endpoint-dns",),
)


@dataclass
class _Reach:
    """What the endpoint and zone lists say, once per analysis."""

    endpoints: dict[str, set[str]] = field(default_factory=dict)  # vault key -> VNet keys with one
    linked: set[str] = field(default_factory=set)  # VNet keys linked to a Site Recovery zone
    endpoints_read: bool = True
    links_read: bool = True


def _reach(ctx: Context) -> _Reach:
    return ctx.shared("asr_private_endpoint.reach", lambda: _read_reach(ctx))


def _read_reach(ctx: Context) -> _Reach:
    reach = _Reach(
        endpoints_read=not coverage_gaps(ctx, _ENDPOINT_INPUTS),
        links_read=not coverage_gaps(ctx, _DNS_INPUTS),
    )
    for pe in ctx.inventory.private_endpoints:
        if not pe.subnet_id:
            continue
        vnet = ids.key(ids.parent_of(pe.subnet_id))
        for c in pe.connections:
            if c.private_link_service_id and SITE_RECOVERY_GROUP in {g.lower() for g in c.group_ids}:
                reach.endpoints.setdefault(ids.key(c.private_link_service_id), set()).add(vnet)
    zones = {ids.key(z.id) for z in ctx.inventory.private_dns_zones if z.is_site_recovery}
    reach.linked = {
        ids.key(link.virtual_network_id)
        for link in ctx.inventory.virtual_network_links
        if link.virtual_network_id and ids.key(link.zone_id) in zones
    }
    return reach


def _replication_vnets(ctx: Context) -> dict[str, dict[str, set[str]]]:
    """Vault key -> VNet key -> its roles (source, recovery) in that vault's A2A replication."""
    out: dict[str, dict[str, set[str]]] = {}

    def add(vault_id: str, vnet_id: str | None, role: str) -> None:
        if vnet_id:
            out.setdefault(ids.key(vault_id), {}).setdefault(ids.key(vnet_id), set()).add(role)

    for m in ctx.inventory.network_mappings:
        if m.instance_type == "AzureToAzure":
            add(m.vault_id, m.primary_network_id, "source")
            add(m.vault_id, m.recovery_network_id, "recovery")
    nics = ctx.index.nics_by_vm
    for item in ctx.inventory.protected_items:
        if item.instance_type != "A2A":
            continue
        add(item.vault_id, item.recovery_network_id, "recovery")
        for nic in nics.get(ids.key(item.source_vm_id), []):
            for ipc in nic.ip_configurations:
                add(item.vault_id, ipc.subnet_id and ids.parent_of(ipc.subnet_id), "source")
    return out


def _covered(vnet: VirtualNetwork, with_endpoint: set[str]) -> bool:
    """An endpoint in the VNet, or in one it is peered with (the page's hub and spoke)."""
    peers = {ids.key(p.remote_virtual_network_id) for p in vnet.peerings if p.remote_virtual_network_id}
    return bool(({ids.key(vnet.id)} | peers) & with_endpoint)


@rule(ASR_PRIVATE_ENDPOINT)
def check_private_endpoints(ctx: Context) -> Iterator[Finding]:
    reach = _reach(ctx)
    if not reach.endpoints:
        return
    roles_by_vault = _replication_vnets(ctx)
    vnets = ctx.index.virtual_networks
    for vault in ctx.inventory.vaults:
        with_endpoint = reach.endpoints.get(ids.key(vault.id))
        if not with_endpoint:
            continue
        for vnet_key, roles in sorted(roles_by_vault.get(ids.key(vault.id), {}).items()):
            vnet = vnets.get(vnet_key)
            if vnet is None:
                continue  # not read: its peerings and DNS servers are unknown
            # None where not judged: the list is unread, or custom DNS resolves through forwarders.
            endpoint = _covered(vnet, with_endpoint) if reach.endpoints_read else None
            linked = ids.key(vnet.id) in reach.linked if reach.links_read and not vnet.dns_servers else None
            if endpoint is None and linked is None:
                continue
            ctx.examined(ASR_PRIVATE_ENDPOINT, vnet.id, VNET_TYPE, vnet.name, vnet.location)
            if endpoint is False or linked is False:
                yield _finding(vault, vnet, sorted(roles), endpoint, linked)


def _finding(
    vault: Vault, vnet: VirtualNetwork, roles: list[str], endpoint: bool | None, linked: bool | None
) -> Finding:
    role = " and ".join(roles)
    what = []
    if endpoint is False:
        what.append("has no private endpoint for the vault's Site Recovery, nor a peered VNet with one")
    if linked is False:
        what.append(f"is not linked to a {SITE_RECOVERY_ZONE} private DNS zone (and uses Azure DNS)")
    after = (
        "replication from it cannot reach the vault"
        if "source" in roles
        else "machines failed over into it cannot be reprotected or failed back"
    )
    return ASR_PRIVATE_ENDPOINT.finding(
        resource_id=vnet.id,
        resource_type=VNET_TYPE,
        resource_name=vnet.name,
        region=vnet.location,
        key=vault.name,
        message=f"Vault '{vault.name}' is reached through Site Recovery private endpoints, but {role} "
        f"VNet '{vnet.name}' {', and '.join(what)}: the vault is locked to networks with a private "
        f"endpoint, so {after}.",
        evidence={
            "vault_id": vault.id,
            "roles": roles,
            "private_endpoint_in_vnet_or_peer": endpoint,
            "linked_to_site_recovery_zone": linked,
            "dns_servers": list(vnet.dns_servers),
        },
    )
