"""Where Site Recovery works, as Microsoft's pages list it: kept as data with the page and its
revision, so a change of the lists is a one-line edit next to its source.

Names are ARM location names (`ids.region` form). The lists go stale as Azure opens regions, and
a stale list must not produce findings: each rule says which reading it takes of a region the
list does not name.
"""

from __future__ import annotations

Z2Z_DOC = "https://learn.microsoft.com/azure/site-recovery/azure-to-azure-how-to-enable-zone-to-zone-disaster-recovery"
Z2Z_SOURCE = (
    "Enable Azure VM disaster recovery between availability zones (learn.microsoft.com, revision "
    "2023-10-09 as read), Supported regions for zone-to-zone disaster recovery"
)
# "Support for zone-to-zone disaster recovery is currently limited to the following regions".
ZONE_TO_ZONE_REGIONS = frozenset(
    {
        "canadacentral",
        "usgovvirginia",
        "centralus",
        "southcentralus",
        "eastus",
        "eastus2",
        "westus2",
        "westus3",
        "brazilsouth",
        "uksouth",
        "westeurope",
        "northeurope",
        "germanywestcentral",
        "norwayeast",
        "francecentral",
        "switzerlandnorth",
        "swedencentral",
        "polandcentral",
        "italynorth",
        "qatarcentral",
        "uaenorth",
        "southafricanorth",
        "southeastasia",
        "eastasia",
        "japaneast",
        "koreacentral",
        "australiaeast",
        "centralindia",
        "chinanorth3",
    }
)

# Support matrix, Region support (revision 2026-01-01, the same list as 2025-06-13): "Support for
# restricted regions is reserved for in-country/region DR: Switzerland West is reserved for
# Switzerland North customers. France South ... France Central. Norway West ... Norway East. JIO India
# Central ... JIO India West. Brazil Southeast ... Brazil South. South Africa West ... South Africa
# North. Germany North ... Germany West Central. UAE Central is reserved for UAE North customers."
# restricted region -> the region whose customers it is reserved for.
RESTRICTED_REGIONS: dict[str, str] = {
    "switzerlandwest": "switzerlandnorth",
    "francesouth": "francecentral",
    "norwaywest": "norwayeast",
    "jioindiacentral": "jioindiawest",
    "brazilsoutheast": "brazilsouth",
    "southafricawest": "southafricanorth",
    "germanynorth": "germanywestcentral",
    "uaecentral": "uaenorth",
}
# Same note: "Brazil South can only be used as a source region from which VMs can replicate using
# Site Recovery. It can't act as a target region." The China support matrix says the same of China
# North ("China North can only be used as a source region ... It can't act as a target region").
SOURCE_ONLY_REGIONS = frozenset({"brazilsouth", "chinanorth"})
# "Brazil Southeast can only be used as a target region." (China matrix: "China East can only be used
# as a target region.")
TARGET_ONLY_REGIONS = frozenset({"brazilsoutheast", "chinaeast"})
