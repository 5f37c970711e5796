"""Remediation commands more than one rule writes for a subnet.

A finding's fix is the one command sequence for its own resource, with no generic placeholder
text after it (issue 12), so where a subnet has no route table yet the fix must create and attach
one before it can add routes to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from asr_audit import ids
from asr_audit.inventory import Subnet, VirtualNetwork


@dataclass(frozen=True, slots=True)
class SubnetRouteTable:
    """The route table to add a subnet's service-tag routes to, and what creates it first."""

    resource_group: str
    name: str
    create_first: str  # "" when the subnet has a table already

    def route(self, name: str, prefix: str) -> str:
        return (
            f"az network route-table route create -g {self.resource_group} --route-table-name {self.name} "
            f"-n {name} --address-prefix {prefix} --next-hop-type Internet"
        )


def subnet_route_table(vnet: VirtualNetwork, subnet: Subnet, table_id: str | None) -> SubnetRouteTable:
    if table_id:
        return SubnetRouteTable(ids.resource_group_of(table_id) or "<rg>", ids.name_of(table_id), "")
    group = ids.resource_group_of(vnet.id) or "<rg>"
    name = f"rt-{subnet.name}-asr"
    create = (
        f"az network route-table create -g {group} -n {name} -l {vnet.location}; az network vnet subnet "
        f"update -g {group} --vnet-name {vnet.name} -n {subnet.name} --route-table {name}"
    )
    return SubnetRouteTable(group, name, create)
