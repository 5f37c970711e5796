"""NET-DNS-REACH: a failed-over VM asks DNS servers its recovery network cannot reach.

A source VNet with custom DNS servers (`dhcpOptions.dnsServers`) usually points at domain
controllers or resolvers. After failover the VM is in the recovery VNet; if no address of those
servers lies in that VNet, in a VNet peered with it, or behind a gateway it has, name resolution
(and with it domain logon) fails there, although replication itself was healthy all along.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.findings import Finding, FindingStatus, RuleMeta, Severity
from asr_audit.inventory import InventoryIndex, VirtualNetwork
from asr_audit.net import connectivity
from asr_audit.net.prefixes import PrefixSet
from asr_audit.rules.base import Context, rule
from asr_audit.rules.common import audited
from asr_audit.rules.common.gaps import gap_label, hybrid_gaps
from asr_audit.rules.common.hybrid import quoted_names, vm_refs
from asr_audit.rules.common.naming import VNET_TYPE

A2A_NETWORKING = "https://learn.microsoft.com/en-us/azure/site-recovery/azure-to-azure-about-networking"
AD_DNS_DR = "https://learn.microsoft.com/azure/site-recovery/site-recovery-active-directory"

NET_DNS_REACH = RuleMeta(
    id="NET-DNS-REACH",
    title="Custom DNS servers of the source VNet unreachable from the recovery VNet",
    severity=Severity.MEDIUM,
    category="network",
    needs=(*audited.PLACEMENT_INPUTS, *audited.RECOVERY_VNET_INPUTS, *connectivity.GATEWAY_PRESENCE),
    rationale=(
        "A VNet with custom DNS servers hands them to every VM in it; they are typically domain controllers "
        "or DNS forwarders. Site Recovery replicates the VMs, not the name service: the Active Directory and "
        "DNS guidance asks for a DNS server to be available in the recovery network (replicated with the "
        "VMs, or a domain controller there) before failover. When none of the source VNet's DNS servers "
        "lies in the recovery VNet, in a VNet peered with it, or behind a gateway it has, the failed-over "
        "VMs cannot resolve names or authenticate, and the applications on them fail although every disk "
        "replicated."
    ),
    remediation=(
        "Make a DNS server reachable from the recovery VNet before failover: replicate a domain controller "
        "or DNS server into it (keeping its IP address), run one there permanently, or peer the recovery "
        "VNet with a network that hosts one (az network vnet peering create -g <rg> --vnet-name "
        "<recovery-vnet> -n <name> --remote-vnet <dns-vnet-id> --allow-vnet-access). Then set the recovery "
        "VNet's DNS servers to it (az network vnet update -g <rg> -n <recovery-vnet> --dns-servers <ip>)."
    ),
    microsoft_docs=AD_DNS_DR,
    source=(
        "Set up disaster recovery for Active Directory and DNS (learn.microsoft.com; no revision date in the "
        "copy read), Replicate the domain controller: 'You must set up Site Recovery replication, on at "
        "least one virtual machine (VM) that hosts a domain controller or DNS'; About networking in Azure "
        "VM disaster recovery (learn.microsoft.com, 2020-03-13 revision)"
    ),
    references=(A2A_NETWORKING,),
)


@dataclass(slots=True)
class DnsCase:
    """A source VNet with custom DNS servers and one recovery VNet its workloads fail over into."""

    source: VirtualNetwork
    recovery_ref: str  # as ASR spells it
    recovery: VirtualNetwork | None
    workloads: dict[str, audited.Workload] = field(default_factory=dict)


def _cases(ctx: Context) -> list[DnsCase]:
    cases: dict[tuple[str, str], DnsCase] = {}
    for p in audited.placements(ctx):
        if not p.vnet.dns_servers:
            continue
        for ref in audited.recovery_network_refs(ctx, p.vnet, p.workload):
            key = (ids.key(p.vnet.id), ids.key(ref))
            case = cases.get(key)
            if case is None:
                recovery = ctx.index.virtual_networks.get(ids.key(ref))
                case = cases[key] = DnsCase(p.vnet, ref, recovery)
            case.workloads.setdefault(ids.key(p.workload.vm.id), p.workload)
    return [cases[k] for k in sorted(cases)]


def _needs_private_path(server: str) -> bool:
    """A public resolver (or Azure's 168.63.129.16) is reached over Azure's own outbound path, which
    other rules judge; only private addresses depend on the recovery VNet's connections. A value
    that is no address at all (ARM refuses those) is not judged."""
    try:
        return not ipaddress.ip_address(server.strip()).is_global
    except ValueError:
        return False


def _peered_spaces(index: InventoryIndex, vnet: VirtualNetwork) -> tuple[list[PrefixSet], list[str]]:
    """(the address space of each connected peer, why some peers' spaces are unknown)."""
    spaces: list[PrefixSet] = []
    unread: list[str] = []
    for peering in vnet.peerings:
        if not connectivity.connected(peering):
            continue
        remote_id = peering.remote_virtual_network_id or ""
        remote = index.virtual_networks.get(ids.key(remote_id))
        prefixes = peering.remote_address_prefixes or (remote.address_prefixes if remote else [])
        if prefixes:
            spaces.append(PrefixSet(prefixes))
        else:
            unread.append(connectivity.unread_reason(index, remote_id, "peered VNet"))
    return spaces, unread


def _unreached(ctx: Context, case: DnsCase, recovery: VirtualNetwork) -> tuple[list[str], list[str]]:
    """(the DNS servers neither in the recovery VNet nor in a peer of it, empty as soon as one is
    reached: a resolver list works while one server answers; why some peers' spaces are unknown)."""
    own = PrefixSet(recovery.address_prefixes)
    spaces, unread = _peered_spaces(ctx.index, recovery)
    out = []
    for server in case.source.dns_servers:
        address = server.strip()
        if not _needs_private_path(address) or any(s.contains(address) for s in (own, *spaces)):
            return [], unread
        out.append(server)
    return out, unread


def _evidence(case: DnsCase, **extra: object) -> dict[str, object]:
    return {
        "dns_servers": list(case.source.dns_servers),
        "recovery_vnet": case.recovery_ref,
        "workloads": vm_refs(case.workloads.values()),
        **extra,
    }


@rule(NET_DNS_REACH)
def check_dns_reach(ctx: Context) -> Iterator[Finding]:
    for case in _cases(ctx):
        source = case.source
        vms = quoted_names(w.vm.name for w in case.workloads.values())
        if case.recovery is None:
            reason = connectivity.unread_reason(ctx.index, case.recovery_ref, "recovery VNet")
            yield NET_DNS_REACH.finding(
                resource_id=source.id,
                resource_type=VNET_TYPE,
                region=source.location,
                key=case.recovery_ref,
                status=FindingStatus.UNKNOWN,
                message=f"Cannot tell whether the DNS servers of VNet '{source.name}' are reachable after "
                f"failover of {vms}: {reason}.",
                evidence=_evidence(case, unknown_recovery_vnet=reason),
            )
            continue
        recovery = case.recovery
        ctx.examined(NET_DNS_REACH, source.id, VNET_TYPE, source.name, source.location)
        missing, unread_peers = _unreached(ctx, case, recovery)
        if not missing or connectivity.has_gateway(ctx.index, recovery):
            continue
        unread = unread_peers + [
            gap_label(g) for g in hybrid_gaps(ctx, [recovery], connectivity.GATEWAY_PRESENCE)
        ]
        status = FindingStatus.UNKNOWN if unread else FindingStatus.FAIL
        maybe = (
            f" It may reach them through what the scan could not read: {'; '.join(unread)}." if unread else ""
        )
        yield NET_DNS_REACH.finding(
            resource_id=source.id,
            resource_type=VNET_TYPE,
            region=source.location,
            key=case.recovery_ref,
            status=status,
            message=(
                f"VNet '{source.name}' hands its VMs the custom DNS server(s) {', '.join(missing)}, none of "
                f"which recovery VNet '{recovery.name}' ({recovery.location}) can reach: they are not in its "
                f"address space, not in a VNet peered with it, and it has no gateway. After failover "
                f"{vms} cannot resolve names.{maybe}"
            ),
            evidence=_evidence(
                case, unreachable=missing, recovery_address_space=recovery.address_prefixes, unread=unread
            ),
        )
