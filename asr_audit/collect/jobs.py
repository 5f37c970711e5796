"""One job = one list chain (or one GET) of one collector; the scheduler runs them.

A job writes what it parsed into its own partial inventory and may ask for follow-up
jobs (a vault's ASR objects once the vault list is in). It raises on failure; the
scheduler turns every failure into a coverage record, keeping what was parsed before it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asr_audit import ids
from asr_audit.collect import compute, endpoints, network, recovery, storage
from asr_audit.collect.fields import Unread, parse_items, text
from asr_audit.collect.pipeline import ClientFactory, get_json, pages
from asr_audit.inventory import FirewallPolicy, FirewallRuleCollectionGroup, Inventory, Vault


@dataclass
class JobResult:
    inventory: Inventory = field(default_factory=Inventory)
    items: int = 0
    unread: Unread = field(default_factory=Unread)  # items the parser could not read
    listing: bool = False  # the job reads a list, not one object
    pages: int = 0  # list pages read: a refusal on a later page cannot mean "nothing to list"
    incomplete: str | None = None  # paging stopped early: the data is partial
    followups: list[Job] = field(default_factory=list)


@dataclass
class Job:
    subscription_id: str
    collector: str
    run: Callable[[JobResult], None]
    fallback: Inventory | None = None  # merged instead when the job fails
    scope: str | None = None  # the vault, resource group or policy id of a per-object job


# A job's URL, built when the job runs: one built from data may be refused (urls.RefusedUrl),
# and the refusal must be that job's gap, not a failure of the job that found the data.
UrlOf = Callable[[], str]


# collector -> (parser of one item, the Inventory list its records go to)
_PARSERS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "storage_accounts": (storage.parse_storage_account, "storage_accounts"),
    "virtual_networks": (network.parse_virtual_network, "virtual_networks"),
    "network_security_groups": (network.parse_network_security_group, "network_security_groups"),
    "route_tables": (network.parse_route_table, "route_tables"),
    "express_route_circuits": (network.parse_express_route_circuit, "express_route_circuits"),
    "azure_firewalls": (network.parse_azure_firewall, "azure_firewalls"),
    "network_interfaces": (network.parse_network_interface, "network_interfaces"),
    "virtual_machines": (compute.parse_virtual_machine, "virtual_machines"),
    "disks": (compute.parse_disk, "disks"),
    "virtual_network_gateways": (network.parse_virtual_network_gateway, "virtual_network_gateways"),
    "connections": (network.parse_connection, "connections"),
    "protected_items": (recovery.parse_protected_item, "protected_items"),
    "network_mappings": (recovery.parse_network_mapping, "network_mappings"),
}


class JobBuilder:
    """Makes the jobs for one scan; every job shares the scan's clients."""

    def __init__(self, factory: ClientFactory, arm_endpoint: str) -> None:
        self._factory = factory
        self._arm_endpoint = arm_endpoint

    def _collect(
        self,
        result: JobResult,
        family: str,
        url: UrlOf,
        parse: Callable[[dict[str, Any]], Any],
        keep: Callable[[Any], None],
    ) -> None:
        """Every page of one list, parsed; each record goes to `keep` as its page arrives, so
        a failure on a later page leaves the earlier records in place."""
        result.listing = True
        pager = pages(self._factory.get(family), url(), self._arm_endpoint)
        for page in pager:
            result.pages = pager.count
            parsed, _ = parse_items(page["value"], parse, result.unread, page=pager.count)
            for record in parsed:
                keep(record)
            result.items += len(parsed)
        result.incomplete = pager.note

    def _list_into(self, result: JobResult, collector: str, family: str, url: UrlOf) -> None:
        parse, target = _PARSERS[collector]
        self._collect(result, family, url, parse, getattr(result.inventory, target).append)

    # --- subscription-wide lists -------------------------------------------------------------

    def subscription_jobs(self, subscription_id: str) -> list[Job]:
        jobs = []
        for collector, (family, provider_path, version) in endpoints.SUBSCRIPTION_LISTS.items():
            url = functools.partial(endpoints.subscription_list, subscription_id, provider_path, version)
            if collector == "vaults":
                run = self._vaults(subscription_id, url)
            elif collector == "firewall_policies":
                run = self._firewall_policies(subscription_id, url)
            else:
                run = self._plain(collector, family, url)
            jobs.append(Job(subscription_id, collector, run))
        jobs.append(Job(subscription_id, "gateway_resource_groups", self._gateway_groups(subscription_id)))
        return jobs

    def _plain(self, collector: str, family: str, url: UrlOf) -> Callable[[JobResult], None]:
        return lambda result: self._list_into(result, collector, family, url)

    # --- vaults and their ASR objects -----------------------------------------------------------

    def _vaults(self, subscription_id: str, url: UrlOf) -> Callable[[JobResult], None]:
        """The list names the vaults; each vault's GET and ASR lists become follow-up jobs."""

        def run(result: JobResult) -> None:
            def keep(vault: Vault) -> None:
                result.followups.extend(self.vault_jobs(subscription_id, vault))

            self._collect(result, "recoveryservices", url, recovery.parse_vault, keep)

        return run

    def vault_jobs(self, subscription_id: str, listed: Vault) -> list[Job]:
        """The vault GET (falling back to the listed view) and its vault-wide ASR lists."""
        vault_id, name = listed.id, listed.name

        def get_vault(result: JobResult) -> None:
            body = get_json(self._factory.get("recoveryservices"), endpoints.vault(vault_id))
            result.inventory.vaults.append(recovery.parse_vault(body))
            result.items = 1

        fallback = Inventory(vaults=[listed])
        jobs = [Job(subscription_id, f"vault:{name}", get_vault, fallback=fallback, scope=vault_id)]
        for collector, child in endpoints.VAULT_LISTS.items():
            url = functools.partial(endpoints.vault_list, vault_id, child)
            run = self._plain(collector, "siterecovery", url)
            jobs.append(Job(subscription_id, f"{collector}:{name}", run, scope=vault_id))
        return jobs

    # --- firewall policies and their rule collection groups ----------------------------------------

    def _firewall_policies(self, subscription_id: str, url: UrlOf) -> Callable[[JobResult], None]:
        """The list names the policies; each policy's rule collection groups are a follow-up job.
        A policy in a subscription that is not scanned is never fetched: the rule reports it unread."""

        def run(result: JobResult) -> None:
            def keep(policy: FirewallPolicy) -> None:
                result.followups.append(self.rule_collection_groups_job(subscription_id, policy))

            self._collect(result, "network", url, network.parse_firewall_policy, keep)

        return run

    def rule_collection_groups_job(self, subscription_id: str, listed: FirewallPolicy) -> Job:
        """The policy enters the inventory with its groups only when they were all read; on any
        failure, a skipped group or a cut-off listing it enters as listed, `rules_read` false, so
        the rule says `unknown` instead of judging half a policy."""
        url = functools.partial(endpoints.rule_collection_groups, listed.id)

        def run(result: JobResult) -> None:
            groups: list[FirewallRuleCollectionGroup] = []
            self._collect(result, "network", url, network.parse_rule_collection_group, groups.append)
            if result.incomplete:
                return  # the fallback (the listed policy) is merged
            complete = not result.unread.count
            result.inventory.firewall_policies.append(
                dataclasses.replace(listed, rule_collection_groups=groups, rules_read=complete)
            )

        fallback = Inventory(firewall_policies=[listed])
        collector = f"rule_collection_groups:{listed.name}"
        return Job(subscription_id, collector, run, fallback=fallback, scope=listed.id)

    # --- VNet gateways and connections: per resource group -----------------------------------------

    def _gateway_groups(self, subscription_id: str) -> Callable[[JobResult], None]:
        """One filtered resource list finds the groups; only those groups are then listed."""
        by_type = {t.lower(): c for c, t in endpoints.RESOURCE_GROUP_LISTS.items()}
        types = list(endpoints.RESOURCE_GROUP_LISTS.values())
        url = functools.partial(endpoints.resources_of_types, subscription_id, types)

        def locate(item: dict[str, Any]) -> tuple[str, str]:
            collector = by_type[(text(item.get("type")) or "").lower()]
            group = ids.resource_group_of(text(item.get("id")))
            if not group:
                raise ValueError("resource id has no resource group")
            return collector, group

        def run(result: JobResult) -> None:
            seen: set[tuple[str, str]] = set()

            def keep(found: tuple[str, str]) -> None:
                collector, group = found
                if (collector, group.lower()) in seen:
                    return
                seen.add((collector, group.lower()))
                arm_type = endpoints.RESOURCE_GROUP_LISTS[collector]
                rg_url = functools.partial(endpoints.resource_group_list, subscription_id, group, arm_type)
                run = self._plain(collector, "network", rg_url)
                scope = f"/subscriptions/{subscription_id}/resourceGroups/{group}"
                result.followups.append(Job(subscription_id, f"{collector}:{group}", run, scope=scope))

            self._collect(result, "resources", url, locate, keep)

        return run

    # --- service tags, once per cloud ---------------------------------------------------------------

    def service_tags_job(self, subscription_id: str, location: str) -> Job:
        """One GET, not a list chain: ServiceTags_List is not pageable (the SDK returns one
        object), and the `nextLink` its body carries leads to the same tags again. The tags
        sit in `values`, not `value`."""

        def run(result: JobResult) -> None:
            url = endpoints.service_tags(subscription_id, location)
            body = get_json(self._factory.get("network"), url, array="values")
            parsed, _ = parse_items(body["values"], network.parse_service_tag, result.unread)
            result.inventory.service_tags.extend(parsed)
            result.items = len(parsed)

        return Job(subscription_id, "service_tags", run)
