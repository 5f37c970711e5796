"""The naive baseline of issue 10: list a tenant the way a simple script would, with the
generated SDK clients, one call after another, and nothing else.

Per subscription, in order: `virtual_networks.list_all()`, `network_security_groups.list_all()`,
`route_tables.list_all()`, `network_interfaces.list_all()`, `virtual_machines.list_all()`,
`disks.list()`, `storage_accounts.list()`, `vaults.list_by_subscription_id()`; then per vault
`replication_protected_items.list(rg, vault)` and `replication_network_mappings.list(rg, vault)`
(azure-mgmt-recoveryservicessiterecovery). Every page of every list is iterated (the SDK
follows `nextLink` and deserialises each item into its model). No analysis, no concurrency,
no retries beyond the SDK's defaults.

It prints one JSON object: items listed per scenario file stem, the wall of the listing alone
(`listing_wall`) and of the imports (`import_wall`). `bench.targets` runs it as a subprocess
against the fake ARM; by hand:

    REQUESTS_CA_BUNDLE=ca.pem SSL_CERT_FILE=ca.pem \
        python -m bench.naive_listing --endpoint https://127.0.0.1:PORT --token T --subscription ID ...
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

# What the baseline lists, as (scenario file stem, SDK family, operation group, method).
SUBSCRIPTION_LISTS = [
    ("virtualNetworks", "network", "virtual_networks", "list_all"),
    ("networkSecurityGroups", "network", "network_security_groups", "list_all"),
    ("routeTables", "network", "route_tables", "list_all"),
    ("networkInterfaces", "network", "network_interfaces", "list_all"),
    ("virtualMachines", "compute", "virtual_machines", "list_all"),
    ("disks", "compute", "disks", "list"),
    ("storageAccounts", "storage", "storage_accounts", "list"),
    ("vaults", "recoveryservices", "vaults", "list_by_subscription_id"),
]
VAULT_LISTS = [
    ("replicationProtectedItems", "replication_protected_items"),
    ("replicationNetworkMappings", "replication_network_mappings"),
]


class StaticToken:
    """A credential with `get_token`, returning a token obtained elsewhere."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="ARM endpoint (the fake's URL)")
    parser.add_argument("--token", required=True, help="bearer token the endpoint accepts")
    parser.add_argument("--subscription", action="append", required=True, help="subscription id (repeatable)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.recoveryservices import RecoveryServicesClient
    from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
    from azure.mgmt.storage import StorageManagementClient

    families = {
        "network": NetworkManagementClient,
        "compute": ComputeManagementClient,
        "storage": StorageManagementClient,
        "recoveryservices": RecoveryServicesClient,
        "siterecovery": SiteRecoveryManagementClient,
    }
    listing = time.perf_counter()
    credential = StaticToken(args.token)
    counts = {stem: 0 for stem, *_ in SUBSCRIPTION_LISTS} | {stem: 0 for stem, _ in VAULT_LISTS}
    for sub in args.subscription:
        clients = {
            name: cls(credential, sub, base_url=args.endpoint)  # type: ignore[operator]
            for name, cls in families.items()
        }
        vaults = []
        for stem, family, group, method in SUBSCRIPTION_LISTS:
            items = list(getattr(getattr(clients[family], group), method)())
            counts[stem] += len(items)
            if stem == "vaults":
                vaults = items
        for vault in vaults:
            resource_group = vault.id.split("/")[4]
            for stem, group in VAULT_LISTS:
                counts[stem] += sum(
                    1 for _ in getattr(clients["siterecovery"], group).list(resource_group, vault.name)
                )
    done = time.perf_counter()
    print(json.dumps({"counts": counts, "import_wall": listing - started, "listing_wall": done - listing}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
