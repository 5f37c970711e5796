"""Code the rule modules share, so no rule imports a sibling rule.

- `audited`: which VMs, NICs, subnets and networks an analysis audits, and an item's regions;
- `references`: resolving what ASR objects and subnets point at;
- `naming`: resource types and how findings name items and VMs;
- `destinations`: what replication must reach (service tags), for the route, NSG and firewall rules;
- `nsg_evaluation`: NSG verdicts for that traffic, for both NSG rules;
- `hybrid`: the source side's reach to on-premises, for the ExpressRoute rules;
- `disks`: which disks replication covers, for the disk rules and VM-UNSUPPORTED;
- `documents`: Microsoft documents cited by several areas;
- `gaps`: the `unknown` findings for what the scan could not read.
"""
