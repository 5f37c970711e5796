"""What a scan reads: its jobs as plain data, the first ones and those the answers call for.

A `Job` is one list chain (or one GET) of one collector: which client, which URL, which parser,
and what its records are for (`Use`). It holds no code of its own, so the scheduler can run any
job the same way and the whole plan reads here, top to bottom. The first jobs are the
subscription-wide lists; a finished job's records may call for more: a vault's GET and ASR lists
once the vault list is in, a firewall policy's rule collection groups, the gateway lists of the
resource groups that hold gateways, the settings of each A2A cache storage account the protected
items name, the protectable items of each protection container holding Hyper-V items, the VNet
links of each Site Recovery private DNS zone, the sizes and vCPU quotas of each region A2A items
fail over to (in the subscription they fail over into), and the service-tags GET once a location
is known.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from asr_audit import ids
from asr_audit.collect import compute, endpoints, network, private_link, recovery, storage
from asr_audit.collect.fields import text
from asr_audit.inventory import (
    SERVICE_TAGS,
    SUBSCRIPTION_COLLECTORS,
    FirewallPolicy,
    Inventory,
    PrivateDnsZone,
    ProtectedItem,
    Vault,
)


class Use(Enum):
    """What a job's records are for."""

    KEEP = "keep"  # they go into the inventory list `Job.section`
    VAULTS = "vaults"  # each listed vault: its GET and its ASR lists
    POLICIES = "policies"  # each listed firewall policy: its rule collection groups
    GATEWAY_GROUPS = "gateway_groups"  # each (collector, resource group) found: that group's list
    POLICY_RULES = "policy_rules"  # the rule collection groups of `Job.policy`


@dataclass(frozen=True, slots=True)
class Job:
    subscription_id: str
    collector: str  # with `:<name>` for a per-object job
    # Built when the job runs: a URL built from data may be refused (urls.RefusedUrl), and the
    # refusal must be that job's gap, not a failure of the job that found the data.
    url: Callable[[], str]
    parse: Callable[[dict[str, Any]], Any]  # one item (or the one object) -> a record
    use: Use = Use.KEEP
    section: str = ""  # the Inventory list a KEEP job's records go to
    paged: bool = True  # a list chain following nextLink; else one GET
    array: str = "value"  # where a GET's items are; "" when the body is the one object
    fallback: Inventory | None = None  # merged instead when the job fails
    object_id: str | None = None  # the vault, resource group or policy id of a per-object job
    policy: FirewallPolicy | None = None  # the listed policy a POLICY_RULES job completes


# collector -> (parser of one item, how its records are used)
_SUBSCRIPTION_PARSERS: dict[str, tuple[Callable[[dict[str, Any]], Any], Use]] = {
    "vaults": (recovery.parse_vault, Use.VAULTS),
    "storage_accounts": (storage.parse_storage_account, Use.KEEP),
    "virtual_networks": (network.parse_virtual_network, Use.KEEP),
    "network_security_groups": (network.parse_network_security_group, Use.KEEP),
    "route_tables": (network.parse_route_table, Use.KEEP),
    "express_route_circuits": (network.parse_express_route_circuit, Use.KEEP),
    "azure_firewalls": (network.parse_azure_firewall, Use.KEEP),
    "firewall_policies": (network.parse_firewall_policy, Use.POLICIES),
    "network_interfaces": (network.parse_network_interface, Use.KEEP),
    "virtual_machines": (compute.parse_virtual_machine, Use.KEEP),
    "disks": (compute.parse_disk, Use.KEEP),
    "disk_encryption_sets": (compute.parse_disk_encryption_set, Use.KEEP),
    "load_balancers": (network.parse_load_balancer, Use.KEEP),
    "nat_gateways": (network.parse_nat_gateway, Use.KEEP),
    "public_ip_addresses": (network.parse_public_ip_address, Use.KEEP),
    "private_endpoints": (private_link.parse_private_endpoint, Use.KEEP),
    "private_dns_zones": (private_link.parse_private_dns_zone, Use.KEEP),
}
_VAULT_PARSERS = {
    "protected_items": recovery.parse_protected_item,
    "network_mappings": recovery.parse_network_mapping,
    "protection_container_mappings": recovery.parse_protection_container_mapping,
    "replication_policies": recovery.parse_replication_policy,
}
# collector -> parser of what is read at one cache account, given that account's id
_CACHE_ACCOUNT_PARSERS: dict[str, Callable[[str, dict[str, Any]], Any]] = {
    "blob_services": storage.parse_blob_service,
    "role_assignments": storage.parse_role_assignment,
}
# collector -> parser of one item of a (subscription, region) read, given both
_REGION_PARSERS: dict[str, Callable[[str, str, dict[str, Any]], Any]] = {
    "vm_skus": compute.parse_vm_sku,
    "compute_usages": compute.parse_compute_usage,
}
# Per (subscription, region): both reads where VMs fail over to; only the sizes where they run.
REGIONAL = tuple(endpoints.REGION_READS)
SIZES_ONLY = ("vm_skus",)
_RESOURCE_GROUP_PARSERS = {
    "virtual_network_gateways": network.parse_virtual_network_gateway,
    "connections": network.parse_connection,
}
_BY_TYPE = {arm_type.lower(): c for c, arm_type in endpoints.RESOURCE_GROUP_LISTS.items()}


def _locate(item: dict[str, Any]) -> tuple[str, str]:
    """A resource the gateway search found -> (the collector that lists it, its resource group)."""
    collector = _BY_TYPE[(text(item.get("type")) or "").lower()]
    group = ids.resource_group_of(text(item.get("id")))
    if not group:
        raise ValueError("resource id has no resource group")
    return collector, group


class Planner:
    """The jobs of one scan. Called from the scheduler's thread only: it remembers which
    resource groups were planned and where the service tags are to be asked for."""

    def __init__(
        self,
        subscription_ids: list[str],
        region_hint: str | None,
        target_regions: tuple[str, ...] = (),
        source_regions: tuple[str, ...] = (),
    ) -> None:
        self._subscriptions = subscription_ids
        # lower-cased id -> as requested; kept, as the follow-ups of every page of items look
        # their subscriptions up here (rebuilt per item, it was quadratic on 1,000 subscriptions)
        self._scanned = {s.lower(): s for s in subscription_ids}
        self._target_regions = target_regions  # readiness: --target-region
        self._source_regions = source_regions  # readiness: --source-region
        self._regional: set[tuple[str, str, str]] = set()  # (collector, subscription, region) planned
        self._tags = _ServiceTagsPlan(region_hint, subscription_ids)
        self._groups: set[tuple[str, str, str]] = set()
        self._cache_accounts: set[str] = set()  # id keys of the cache accounts planned
        self._containers: set[str] = set()  # id keys of the protection containers planned

    @property
    def service_tags_planned(self) -> bool:
        return self._tags.taken

    def first(self) -> list[Job]:
        """Every subscription-wide list, per subscription; the service tags when the region hint
        already says where."""
        jobs = [
            self._subscription_job(sid, c) for sid in self._subscriptions for c in SUBSCRIPTION_COLLECTORS
        ]
        return jobs + self._service_tags()

    def after(self, job: Job, records: list[Any]) -> list[Job]:
        """The jobs `job`'s records call for: what a list named, read object by object. Also
        called for a job that failed, with what it read before: what was listed is still read."""
        if job.use is Use.VAULTS:
            return [j for vault in records for j in self._vault_jobs(job.subscription_id, vault)]
        if job.use is Use.POLICIES:
            return [self._rule_collection_groups(job.subscription_id, p) for p in records]
        if job.use is Use.GATEWAY_GROUPS:
            return self._group_jobs(job.subscription_id, records)
        if job.collector.partition(":")[0] == "protected_items":
            return (
                self._cache_account_jobs(records)
                + self._failover_capacity(job.subscription_id, records)
                + self._protectable_item_jobs(job.subscription_id, records)
                + self._source_sizes(records)
            )
        if job.collector == "private_dns_zones":
            return [self._zone_links(job.subscription_id, z) for z in records if z.is_site_recovery]
        if job.collector == "virtual_machines" and records:
            held = {ids.region(vm.location) for vm in records}
            candidates = tuple(r for r in self._source_regions if r in held)
            return self._capacity_jobs(job.subscription_id, self._target_regions) + self._capacity_jobs(
                job.subscription_id, candidates, SIZES_ONLY
            )
        if job.collector == "virtual_networks":
            self._tags.saw(job.subscription_id, records)
            return self._service_tags()
        return []

    # --- subscription-wide lists ----------------------------------------------------------------

    def _subscription_job(self, subscription_id: str, collector: str) -> Job:
        if collector == "gateway_resource_groups":
            # One filtered resource list finds the groups; only those groups are then listed.
            types = list(endpoints.RESOURCE_GROUP_LISTS.values())
            url = functools.partial(endpoints.resources_of_types, subscription_id, types)
            return Job(subscription_id, collector, url, _locate, Use.GATEWAY_GROUPS)
        provider_path, version = endpoints.SUBSCRIPTION_LISTS[collector]
        url = functools.partial(endpoints.subscription_list, subscription_id, provider_path, version)
        parse, use = _SUBSCRIPTION_PARSERS[collector]
        return Job(subscription_id, collector, url, parse, use, section=collector if use is Use.KEEP else "")

    # --- per listed object ----------------------------------------------------------------------

    def _vault_jobs(self, subscription_id: str, listed: Vault) -> list[Job]:
        """The vault GET (falling back to the listed view: the list carries no network settings)
        and its vault-wide ASR lists."""
        vault_id, name = listed.id, listed.name
        jobs = [
            Job(
                subscription_id,
                f"vault:{name}",
                functools.partial(endpoints.vault, vault_id),
                recovery.parse_vault,
                section="vaults",
                paged=False,
                array="",
                fallback=Inventory(vaults=[listed]),
                object_id=vault_id,
            )
        ]
        for collector, child in endpoints.VAULT_LISTS.items():
            url = functools.partial(endpoints.vault_list, vault_id, child)
            parse = _VAULT_PARSERS[collector]
            jobs.append(
                Job(
                    subscription_id,
                    f"{collector}:{name}",
                    url,
                    parse,
                    section=collector,
                    object_id=vault_id,
                )
            )
        return jobs

    def _rule_collection_groups(self, subscription_id: str, listed: FirewallPolicy) -> Job:
        """The policy enters the inventory with its groups only when they were all listed; on a
        failure or a cut-off listing it enters as listed, `rules_read` false, so the rule says
        `unknown` instead of judging half a policy. A policy in a subscription that is not
        scanned is never fetched: the rule reports it unread."""
        return Job(
            subscription_id,
            f"rule_collection_groups:{listed.name}",
            functools.partial(endpoints.rule_collection_groups, listed.id),
            network.parse_rule_collection_group,
            Use.POLICY_RULES,
            fallback=Inventory(firewall_policies=[listed]),
            object_id=listed.id,
            policy=listed,
        )

    def _zone_links(self, subscription_id: str, zone: PrivateDnsZone) -> Job:
        """Only the Site Recovery zone's links are read: which VNets resolve the vault's private
        endpoints is all a rule asks of them, and a subscription may hold hundreds of zones."""
        return Job(
            subscription_id,
            f"virtual_network_links:{zone.name}",
            functools.partial(endpoints.virtual_network_links, zone.id),
            private_link.parse_virtual_network_link,
            section="virtual_network_links",
            object_id=zone.id,
        )

    def _cache_account_jobs(self, items: list[ProtectedItem]) -> list[Job]:
        """The settings of each A2A cache account the items name, once per account however many
        items and vaults share it. Only cache accounts: another account's soft delete or key
        access is no concern of Site Recovery, and which account a VM not yet replicating will
        use is unknown. An account in a subscription not scanned is not read (the rules say
        `unknown` for it), as no other resource there is. The role assignments stay one job per
        account, though ARM lists them once per subscription (collect.assignments): the jobs
        reading that shared list come last, so that the others are not queued behind them while
        the first one reads it."""
        accounts = []
        for item in items:
            if item.instance_type != "A2A":
                continue
            for disk in item.protected_disks:
                account_id = disk.cache_storage_account_id
                subscription = self._scanned.get(ids.subscription_of(account_id) or "")
                if not account_id or subscription is None or ids.key(account_id) in self._cache_accounts:
                    continue
                self._cache_accounts.add(ids.key(account_id))
                accounts.append((subscription, account_id))
        reads = sorted(endpoints.CACHE_ACCOUNT_READS.items(), key=lambda c: c[1].shared)
        return [
            Job(
                subscription,
                f"{collector}:{ids.name_of(account_id)}",
                functools.partial(endpoints.cache_account_read, account_id, collector, subscription),
                functools.partial(_CACHE_ACCOUNT_PARSERS[collector], account_id),
                section=collector,
                paged=read.paged,
                array="value" if read.paged else "",
                object_id=account_id,
            )
            for collector, read in reads
            for subscription, account_id in accounts
        ]

    def _protectable_item_jobs(self, subscription_id: str, items: list[ProtectedItem]) -> list[Job]:
        """The protectable items of each container holding a HyperVReplicaAzure item, once per
        container: only there is a VM generation to be read (DSK-SIZE), and the items' own ids name
        those containers, so no container list is needed. A2A and VMware containers are not read."""
        jobs = []
        for item in items:
            if item.instance_type != "HyperVReplicaAzure":
                continue
            container_id = ids.parent_of(item.id)
            if ids.key(container_id) in self._containers:
                continue
            self._containers.add(ids.key(container_id))
            jobs.append(
                Job(
                    subscription_id,
                    f"protectable_items:{ids.name_of(container_id)}",
                    functools.partial(endpoints.protectable_items, container_id),
                    recovery.parse_protectable_item,
                    section="protectable_items",
                    object_id=container_id,
                )
            )
        return jobs

    def _failover_capacity(self, vault_subscription: str, items: list[ProtectedItem]) -> list[Job]:
        """Where the A2A items would create their VMs: the recovery region, in the subscription
        of the recovery resource group (Site Recovery may fail over into another subscription of
        the tenant), else the vault's. Sizes and quotas are per subscription, so that one is read;
        one not scanned is not (the rule says `unknown` there)."""
        jobs = []
        for item in items:
            region = ids.region(item.recovery_location)
            if item.instance_type != "A2A" or not region:
                continue
            target = ids.subscription_of(item.recovery_resource_group_id) or vault_subscription
            jobs += self._capacity_jobs(target, (region,))
        return jobs

    def _source_sizes(self, items: list[ProtectedItem]) -> list[Job]:
        """The SKU list of each A2A item's source region, in its source VM's subscription:
        VM-UNSUPPORTED reads the size's vCPUs and CPU architecture there, as a size not offered
        in the recovery region has no entry in that region's list. No quota: nothing is created
        in the source region."""
        jobs = []
        for item in items:
            region = ids.region(item.primary_location)
            source = ids.subscription_of(item.source_vm_id)
            if item.instance_type == "A2A" and region and source:
                jobs += self._capacity_jobs(source, (region,), SIZES_ONLY)
        return jobs

    def _capacity_jobs(
        self, subscription_id: str, regions: tuple[str, ...], collectors: tuple[str, ...] = REGIONAL
    ) -> list[Job]:
        """The `collectors` (SKU list, usages) of each region, each once per (subscription,
        region) whichever side (source or recovery) asked for it first."""
        subscription = self._scanned.get(subscription_id.lower())
        if subscription is None:
            return []  # not scanned: the rules say `unknown` there
        jobs = []
        for region in regions:
            for collector in collectors:
                key = (collector, subscription.lower(), region)
                if key in self._regional:
                    continue
                self._regional.add(key)
                url = endpoints.REGION_READS[collector]
                jobs.append(
                    Job(
                        subscription,
                        f"{collector}:{region}",
                        functools.partial(url, subscription, region),
                        functools.partial(_REGION_PARSERS[collector], subscription, region),
                        section=collector,
                        object_id=f"/subscriptions/{subscription}/locations/{region}",
                    )
                )
        return jobs

    def _group_jobs(self, subscription_id: str, found: list[tuple[str, str]]) -> list[Job]:
        """VNet gateways and connections have no subscription-wide list: each resource group
        the search found holding one is listed, once."""
        jobs = []
        for collector, group in found:
            key = (subscription_id.lower(), collector, group.lower())
            if key in self._groups:
                continue
            self._groups.add(key)
            arm_type = endpoints.RESOURCE_GROUP_LISTS[collector]
            url = functools.partial(endpoints.resource_group_list, subscription_id, group, arm_type)
            scope = f"/subscriptions/{subscription_id}/resourceGroups/{group}"
            parse = _RESOURCE_GROUP_PARSERS[collector]
            jobs.append(
                Job(
                    subscription_id,
                    f"{collector}:{group}",
                    url,
                    parse,
                    section=collector,
                    object_id=scope,
                )
            )
        return jobs

    # --- service tags, once per cloud -----------------------------------------------------------

    def _service_tags(self) -> list[Job]:
        """One GET, not a list chain: ServiceTags_List is not pageable (the SDK returns one
        object), and the `nextLink` its body carries leads to the same tags again. The tags
        sit in `values`, not `value`."""
        if self._tags.choice is None or self._tags.taken:
            return []
        subscription_id, location = self._tags.take()
        url = functools.partial(endpoints.service_tags, subscription_id, location)
        return [
            Job(
                subscription_id,
                SERVICE_TAGS,
                url,
                network.parse_service_tag,
                section="service_tags",
                paged=False,
                array="values",
            )
        ]


class _ServiceTagsPlan:
    """Service tags are fetched once per cloud, for one location: the region hint, else the
    first VNet's location, subscriptions taken in the order given (so reruns ask the same)."""

    def __init__(self, hint: str | None, subscription_order: list[str]) -> None:
        self._order = subscription_order
        self._seen: dict[str, str | None] = {}
        self.choice: tuple[str, str] | None = None
        if hint and subscription_order:
            self.choice = (subscription_order[0], hint)
        self.taken = False

    def saw(self, subscription_id: str, vnets: list[Any]) -> None:
        locations = [loc for v in vnets if (loc := ids.region(v.location))]
        self._seen[subscription_id] = locations[0] if locations else None
        for sub in self._order:
            if self.choice is not None or sub not in self._seen:
                return
            location = self._seen[sub]
            if location:
                self.choice = (sub, location)

    def take(self) -> tuple[str, str]:
        if self.choice is None:
            raise RuntimeError("no service-tags location chosen yet")
        self.taken = True
        return self.choice
