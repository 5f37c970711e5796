"""A `ServiceTags_List` body of realistic size: global and regional tags, IPv4 and IPv6 mixed."""

from __future__ import annotations

from .common import Body, Values

FIRST_OCTETS = (13, 20, 40, 52, 104, 191)
SERVICE_TAG_SERVICES = (
    ("AzureActiveDirectory", "AzureAD"),
    ("AzureSiteRecovery", "AzureSiteRecovery"),
    ("Storage", "AzureStorage"),
    ("EventHub", "AzureEventHub"),
    ("ServiceBus", "AzureServiceBus"),
    ("GuestAndHybridManagement", "GuestAndHybridManagement"),
    ("AzureMonitor", "AzureMonitor"),
    ("AzureKeyVault", "AzureKeyVault"),
    ("AzureBackup", "AzureBackup"),
    ("AzureCloud", ""),
    ("AppService", "AzureAppService"),
    ("AzureContainerRegistry", "AzureContainerRegistry"),
    ("AzureCosmosDB", "AzureCosmosDB"),
    ("Sql", "AzureSQL"),
    ("ApiManagement", "AzureApiManagement"),
    ("AzureResourceManager", "AzureResourceManager"),
    ("AzureFrontDoor.Backend", "AzureFrontDoor"),
    ("DataFactory", "DataFactory"),
    ("AzureMachineLearning", "AzureMachineLearning"),
    ("AzureDevOps", "AzureDevOps"),
)
TAG_REGIONS = (
    "eastus",
    "eastus2",
    "westus",
    "westus2",
    "westus3",
    "centralus",
    "northcentralus",
    "southcentralus",
    "westcentralus",
    "canadacentral",
    "canadaeast",
    "brazilsouth",
    "northeurope",
    "westeurope",
    "uksouth",
    "ukwest",
    "francecentral",
    "germanywestcentral",
    "switzerlandnorth",
    "norwayeast",
    "swedencentral",
    "polandcentral",
    "italynorth",
    "uaenorth",
    "southafricanorth",
    "centralindia",
    "southindia",
    "westindia",
    "eastasia",
    "southeastasia",
    "japaneast",
    "japanwest",
    "koreacentral",
    "koreasouth",
    "australiaeast",
    "australiasoutheast",
    "australiacentral",
    "qatarcentral",
    "israelcentral",
    "mexicocentral",
)


def build_service_tags(values: Values, count: int, subscription: str) -> Body:
    """A `ServiceTags_List` body: global and regional tags, IPv4 and IPv6 prefixes mixed."""
    rng = values.rng
    entries: list[Body] = []
    names = [(svc, system, "") for svc, system in SERVICE_TAG_SERVICES]
    names += [
        (f"{svc}.{r.capitalize()}", system, r) for svc, system in SERVICE_TAG_SERVICES for r in TAG_REGIONS
    ]
    for name, system, region in names[:count]:
        prefixes = [
            f"{rng.choice(FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.randrange(24, 32)}"
            for _ in range(rng.randrange(4, 60 if not region else 20))
        ]
        prefixes += [
            f"2603:10{rng.randrange(10, 99)}:{rng.randrange(0x10000):x}::/{rng.choice([48, 56, 64])}"
            for _ in range(rng.randrange(0, 6))
        ]
        entries.append(
            {
                "name": name,
                "id": name,
                "properties": {
                    "changeNumber": str(rng.randrange(1, 400)),
                    "region": region,
                    "state": "GA",
                    "systemService": system,
                    "addressPrefixes": prefixes,
                    "networkFeatures": ["API", "NSG", "UDR", "FW"],
                },
            }
        )
    return {
        "name": "Public",
        "id": f"/subscriptions/{subscription}/providers/Microsoft.Network/serviceTags/Public",
        "type": "Microsoft.Network/serviceTags",
        "changeNumber": str(rng.randrange(100, 400)),
        "cloud": "Public",
        "values": entries,
    }
