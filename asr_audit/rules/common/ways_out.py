"""How a protected VM's subnet gets out whatever the destination (NET-OUTBOUND-PATH): a NAT gateway
holding a public IP, a Standard public IP on the NIC, or a load balancer that lets its backend pool
out. Kept apart from the rule, which judges routes and private endpoints per destination, because
each of these ways depends on a resource read on its own, and one not read is `unknown`, not a way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asr_audit import ids
from asr_audit.inventory import LoadBalancer
from asr_audit.net import connectivity
from asr_audit.rules.base import Context
from asr_audit.rules.common.audited import Placement, SubnetCase

CARRIED, NONE, UNDECIDED = "carried", "none", "unknown"


def _snat_pools(lb: LoadBalancer) -> set[str]:
    """The backend pools `lb` lets out: a Standard load balancer through its outbound rules and
    the SNAT of load-balancing rules on a public frontend, a Basic one through any public frontend."""
    public = {ids.key(f) for f in lb.public_frontend_ids}
    if (lb.sku_name or "Basic").lower() == "basic":
        return {ids.key(p) for p in lb.backend_address_pool_ids} if public else set()
    if (lb.sku_name or "").lower() != "standard":
        return set()
    pools = {ids.key(p) for p in lb.outbound_rule_pool_ids}
    for r in lb.load_balancing_rules:
        if not r.disable_outbound_snat and ids.key(r.frontend_ip_configuration_id) in public:
            pools |= {ids.key(p) for p in r.backend_address_pool_ids}
    return pools


def _load_balancers(ctx: Context) -> tuple[dict[str, LoadBalancer], set[str]]:
    """(load balancers by id key, pools with a way out), once per analysis."""

    def build() -> tuple[dict[str, LoadBalancer], set[str]]:
        lbs = {ids.key(lb.id): lb for lb in ctx.inventory.load_balancers}
        return lbs, set().union(*map(_snat_pools, lbs.values()))

    return ctx.shared("outbound_pools", build)


def _public_ip(ctx: Context, pip_id: str) -> tuple[str, str]:
    """(carried | none | unknown, why) for a NIC's public IP: a way out only once read and of the
    Standard SKU. Basic SKU public IPs were retired on 2025-09-30 (Microsoft's upgrade guidance), so
    one is none (its NIC then undecided: see `nic_way_out`); one not read, of another or no SKU, or
    IPv6 only (no IPv4 traffic) is unknown."""
    pip = ctx.index.public_ip_addresses.get(ids.key(pip_id))
    if pip is None:
        return UNDECIDED, connectivity.unread_reason(ctx.index, pip_id, "public IP")
    sku = (pip.sku_name or "").lower()
    if sku == "basic":
        return NONE, f"public IP '{pip.name}' is Basic SKU, retired on 2025-09-30"
    if sku != "standard":
        return UNDECIDED, f"public IP '{pip.name}' has SKU '{pip.sku_name or 'not set'}', not Standard"
    if (pip.version or "IPv4").lower() == "ipv6":
        return UNDECIDED, f"public IP '{pip.name}' is IPv6, which carries no IPv4 traffic"
    return CARRIED, f"public IP '{pip.name}'"


@dataclass(slots=True)
class NicWay:
    """How one NIC gets out whatever the destination, or why that is unknown, and the Basic public
    IPs it holds in vain (named in the finding, with their upgrade)."""

    way: str | None = None
    unread: str | None = None
    retired: list[str] = field(default_factory=list)  # ids of Basic SKU public IPs


def nic_way_out(ctx: Context, case: SubnetCase, p: Placement) -> NicWay:
    lbs, outbound = _load_balancers(ctx)
    out = NicWay()
    for ipc in p.nic.ip_configurations:
        if ids.key(ipc.subnet_id) != ids.key(case.subnet.id):
            continue
        if ipc.public_ip_address_id:
            verdict, why = _public_ip(ctx, ipc.public_ip_address_id)
            if verdict == CARRIED:
                return NicWay(way=f"{why} on ip configuration '{ipc.name}'")
            if verdict == NONE:
                # Retired is not documented as cut off: named with its upgrade, and undecided rather
                # than failed, so an upgrade-pending VM that still gets out is no false positive.
                out.retired.append(ipc.public_ip_address_id)
                out.unread = f"{why}; Microsoft does not say whether it still carries traffic"
            else:
                out.unread = why
        for pool in ipc.load_balancer_backend_address_pool_ids:
            lb_id = ids.parent_of(pool)
            if ids.key(pool) in outbound:
                pool_name = ids.name_of(pool)
                return NicWay(way=f"load balancer '{ids.name_of(lb_id)}' (backend pool '{pool_name}')")
            if ids.key(lb_id) not in lbs:
                out.unread = connectivity.unread_reason(ctx.index, lb_id, "load balancer")
    return out


def nat_gateway(ctx: Context, nat_id: str) -> tuple[str, str]:
    """(carried | none | unknown, why) for the subnet's NAT gateway: it is a way out only once it
    holds a public IP (Microsoft: not operational until then). IPv6 ones alone carry no IPv4
    traffic, but whether the VMs could do with IPv6 is not judged: unknown, as is one not read."""
    nat = ctx.index.nat_gateways.get(ids.key(nat_id))
    if nat is None:
        return UNDECIDED, connectivity.unread_reason(ctx.index, nat_id, "NAT gateway")
    if nat.public_ip_ids:
        return _nat_ips(ctx, nat.name, nat.public_ip_ids)
    if nat.public_ipv6_ids:
        return UNDECIDED, f"NAT gateway '{nat.name}' holds only IPv6 public IPs, which carry no IPv4 traffic"
    return NONE, f"NAT gateway '{nat.name}', which holds no public IP address or prefix"


def _nat_ips(ctx: Context, name: str, ip_ids: list[str]) -> tuple[str, str]:
    """A NAT gateway accepts only Standard SKU public IPs (so their SKU is not judged), but its
    addresses must be read to count: one that was not could be gone. Prefixes are not read."""
    pips = ctx.index.public_ip_addresses
    if any(_is_prefix(i) or ids.key(i) in pips for i in ip_ids):
        return CARRIED, f"NAT gateway '{name}'"
    unread = "; ".join(connectivity.unread_reason(ctx.index, i, "public IP") for i in ip_ids)
    return UNDECIDED, f"NAT gateway '{name}' holds public IPs this scan did not read ({unread})"


def _is_prefix(resource_id: str) -> bool:
    return "/providers/microsoft.network/publicipprefixes/" in ids.key(resource_id)
