"""Network estate: NSGs, route tables, hub-and-spoke VNets with peerings, and each hub's
firewall, ExpressRoute circuit, gateways and connections (api-examples/network shapes).
"""

from __future__ import annotations

from typing import Any

from .common import REGIONS, SOURCE_REGION, TARGET_REGION, Body, Estate, Net, Subnet, arm_id, dotted, skewed

MAX_VNETS = 8192  # one /21 of 10.0.0.0/8 each (the `scale` profile goes on past 10.255.255.255)
_TEN = 10 << 24


def vnet_base(index: int) -> int:
    """The first address of VNet `index`'s /21, unique across the tenant: 10.0.0.0/21, 10.0.8.0/21..."""
    return _TEN + index * 2048


# --- network security groups and route tables ---------------------------------------------


def _rule(name: str, priority: int, direction: str, access: str, **props: Any) -> Body:
    base = {
        "protocol": "*",
        "sourcePortRange": "*",
        "destinationPortRange": "*",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": access,
        "priority": priority,
        "direction": direction,
        "provisioningState": "Succeeded",
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
    }
    base.update(props)
    return {"name": name, "properties": base}


def _default_rules() -> list[Body]:
    vnet = {"sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "VirtualNetwork"}
    return [
        _rule(
            "AllowVnetInBound",
            65000,
            "Inbound",
            "Allow",
            description="Allow inbound traffic from all VMs in VNET",
            **vnet,
        ),
        _rule(
            "AllowAzureLoadBalancerInBound",
            65001,
            "Inbound",
            "Allow",
            description="Allow inbound traffic from azure load balancer",
            sourceAddressPrefix="AzureLoadBalancer",
        ),
        _rule("DenyAllInBound", 65500, "Inbound", "Deny", description="Deny all inbound traffic"),
        _rule(
            "AllowVnetOutBound",
            65000,
            "Outbound",
            "Allow",
            description="Allow outbound traffic from all VMs to all VMs in VNET",
            **vnet,
        ),
        _rule(
            "AllowInternetOutBound",
            65001,
            "Outbound",
            "Allow",
            description="Allow outbound traffic from all VMs to Internet",
            destinationAddressPrefix="Internet",
        ),
        _rule("DenyAllOutBound", 65500, "Outbound", "Deny", description="Deny all outbound traffic"),
    ]


def _custom_rules(e: Estate) -> list[Body]:
    """A realistic mix: singular and plural fields, service tags, port ranges, an outbound deny."""
    rng = e.rng
    rules = [
        _rule(
            "AllowHttpsInbound",
            100,
            "Inbound",
            "Allow",
            protocol="Tcp",
            destinationPortRange="443",
            sourceAddressPrefix="Internet",
        ),
        _rule(
            "AllowMgmtInbound",
            110,
            "Inbound",
            "Allow",
            protocol="Tcp",
            destinationPortRange="",
            destinationPortRanges=["22", "3389", "5985-5986"],
            sourceAddressPrefix="",
            sourceAddressPrefixes=["10.255.0.0/24", "192.168.10.0/24"],
        ),
        _rule(
            "AllowAsrOutbound",
            200,
            "Outbound",
            "Allow",
            protocol="Tcp",
            destinationPortRange="443",
            destinationAddressPrefix="AzureSiteRecovery",
        ),
        _rule(
            "AllowStorageOutbound",
            210,
            "Outbound",
            "Allow",
            protocol="Tcp",
            destinationPortRange="443",
            destinationAddressPrefix=f"Storage.{SOURCE_REGION.capitalize()}",
        ),
        _rule(
            "AllowEntraOutbound",
            220,
            "Outbound",
            "Allow",
            protocol="Tcp",
            destinationPortRange="443",
            destinationAddressPrefix="AzureActiveDirectory",
        ),
        _rule(
            "AllowEventHubOutbound",
            230,
            "Outbound",
            "Allow",
            protocol="Tcp",
            destinationPortRange="443",
            destinationAddressPrefix="EventHub",
        ),
    ]
    for k in range(rng.randrange(0, 6)):
        rules.append(
            _rule(
                f"AllowApp{k}",
                300 + 10 * k,
                "Inbound",
                "Allow",
                protocol=rng.choice(["Tcp", "Udp", "*"]),
                destinationPortRange=str(rng.choice([80, 1433, 5432, 6379, 8080, 8443])),
                sourceAddressPrefix=f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24",
            )
        )
    if rng.random() < 0.1:
        rules.append(
            _rule("DenyInternetOutbound", 4000, "Outbound", "Deny", destinationAddressPrefix="Internet")
        )
    if e.scale:
        rules += _bulk_rules(e, skewed(rng, 20, 200) - len(rules) - 6)
    for rule in rules[::2]:  # some custom rules carry a description, some do not
        rule["properties"]["description"] = f"{rule['name']} (landing zone policy)"
    return rules


def _bulk_rules(e: Estate, count: int) -> list[Body]:
    """What makes a large NSG large: per-application inbound allows, outbound allows to private
    ranges and denies of public ranges (which cut service-tag prefixes in part), at unique
    priorities between 1000 and 3999 in each direction."""
    rng = e.rng
    out: list[Body] = []
    for j in range(max(0, count)):
        kind = j % 4
        if kind == 0 or kind == 1:
            out.append(
                _rule(
                    f"AllowApp{j}In",
                    1000 + j,
                    "Inbound",
                    "Allow",
                    protocol="Tcp",
                    destinationPortRange=str(rng.choice([80, 443, 1433, 5432, 8080])),
                    sourceAddressPrefix=f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24",
                )
            )
        elif kind == 2:
            out.append(
                _rule(
                    f"AllowPrivate{j}Out",
                    1000 + j,
                    "Outbound",
                    "Allow",
                    protocol=rng.choice(["Tcp", "*"]),
                    destinationPortRange="",
                    destinationPortRanges=["1433", "5000-5100"],
                    destinationAddressPrefix="",
                    destinationAddressPrefixes=[f"10.{rng.randrange(256)}.0.0/16", "172.16.0.0/12"],
                )
            )
        else:
            public = rng.choice([20, 40, 52, 104])  # where service-tag prefixes lie
            out.append(
                _rule(
                    f"DenyPublic{j}Out",
                    1000 + j,
                    "Outbound",
                    "Deny",
                    protocol="Tcp",
                    destinationAddressPrefix=f"{public}.{rng.randrange(256)}.{rng.randrange(256)}.0/24",
                )
            )
    return out


def build_nsgs(e: Estate) -> None:
    for region, count in e.split(e.counts["networkSecurityGroups"]).items():
        rg = e.rg("net", region)
        for k in range(count):
            name = f"nsg-{region}-{k:04d}"
            nsg_id = arm_id(e.sub, rg, "Microsoft.Network/networkSecurityGroups", name)
            etag = e.v.etag()

            def with_ids(rules: list[Body], kind: str, nsg_id: str = nsg_id, etag: str = etag) -> list[Body]:
                for rule in rules:
                    rule["id"] = f"{nsg_id}/{kind}/{rule['name']}"
                    rule["etag"] = etag
                    rule["type"] = f"Microsoft.Network/networkSecurityGroups/{kind}"
                return rules

            body = {
                "name": name,
                "id": nsg_id,
                "etag": etag,
                "type": "Microsoft.Network/networkSecurityGroups",
                "location": region,
                "tags": e.tags(),
                "properties": {
                    "provisioningState": "Succeeded",
                    "resourceGuid": e.v.guid(),
                    "securityRules": with_ids(_custom_rules(e), "securityRules"),
                    "defaultSecurityRules": with_ids(_default_rules(), "defaultSecurityRules"),
                    "subnets": [],
                },
            }
            e.nsgs[region].append(body)
            e.out["networkSecurityGroups"].append(body)


def build_route_tables(e: Estate) -> None:
    for region, count in e.split(e.counts["routeTables"]).items():
        rg = e.rg("net", region)
        for k in range(count):
            name = f"rt-{region}-{k:04d}"
            rt_id = arm_id(e.sub, rg, "Microsoft.Network/routeTables", name)
            routes = [("to-onprem", "192.168.0.0/16", "VirtualNetworkGateway", None)]
            style = k % 4
            if style == 0:  # forced tunnel through the hub firewall (its address is filled in by build_hubs)
                routes.append(("default-to-firewall", "0.0.0.0/0", "VirtualAppliance", "FIREWALL"))
            elif style == 1:  # forced tunnel with a service-tag bypass
                routes.append(("default-to-onprem", "0.0.0.0/0", "VirtualNetworkGateway", None))
                routes.append(("storage-direct", "Storage", "Internet", None))
            elif style == 2:
                routes.append(("shared-services", f"10.{200 + k % 50}.0.0/16", "VnetLocal", None))
            if e.scale:  # on-premises sites and inspected spoke ranges, 10 to 400 routes in all
                for j in range(skewed(e.rng, 10, 400) - len(routes)):
                    if j % 3:
                        prefix = f"{e.rng.choice([172, 192])}.{e.rng.randrange(16, 32)}.{j % 256}.0/24"
                        routes.append((f"onprem-{j}", prefix, "VirtualNetworkGateway", None))
                    else:
                        prefix = f"10.{e.rng.randrange(256)}.{e.rng.randrange(0, 256, 8)}.0/21"
                        routes.append((f"inspect-{j}", prefix, "VirtualAppliance", "FIREWALL"))
            etag = e.v.etag()
            body = {
                "name": name,
                "id": rt_id,
                "etag": etag,
                "type": "Microsoft.Network/routeTables",
                "location": region,
                "properties": {
                    "provisioningState": "Succeeded",
                    "resourceGuid": e.v.guid(),
                    "disableBgpRoutePropagation": style == 0,
                    "routes": [
                        {
                            "name": rname,
                            "id": f"{rt_id}/routes/{rname}",
                            "etag": etag,
                            "type": "Microsoft.Network/routeTables/routes",
                            "properties": {
                                "provisioningState": "Succeeded",
                                "addressPrefix": prefix,
                                "nextHopType": hop,
                                **({"nextHopIpAddress": ip} if ip else {}),
                                "hasBgpOverride": False,
                            },
                        }
                        for rname, prefix, hop, ip in routes
                    ],
                    "subnets": [],
                },
            }
            e.route_tables[region].append(body)
            e.out["routeTables"].append(body)


# --- virtual networks ------------------------------------------------------------------------


def build_virtual_networks(e: Estate) -> None:
    spokes = e.split(e.counts["virtualNetworks"] - len(REGIONS))
    index = e.vnet_offset
    source_bases: list[int] = []
    for region in REGIONS:
        e.nets.append(_vnet(e, f"vnet-hub-{region}", e.rg("hub", region), region, True, vnet_base(index)))
        index += 1
        for k in range(spokes[region]):
            rg = e.rg("net", region)
            base = vnet_base(index)
            if region == SOURCE_REGION:
                source_bases.append(base)
            elif e.scale and k % 3 == 0 and k < len(source_bases):
                base = source_bases[k]  # a recovery VNet that keeps its source's addresses (IP retention)
            e.nets.append(_vnet(e, f"vnet-spoke-{region}-{k:04d}", rg, region, False, base))
            index += 1
    gateways = bool(e.counts["virtualNetworkGateways"])  # none in the `plain` profile's hubs
    for net in e.nets:
        hub = next(n for n in e.nets if n.hub and n.region == net.region)
        if net.hub:
            other = next(n for n in e.nets if n.hub and n.region != net.region)
            _peer(e, net, other, transit=False)
            for spoke in (n for n in e.nets if not n.hub and n.region == net.region):
                _peer(e, net, spoke, transit=gateways)
        else:
            _peer(e, net, hub, transit=False, remote_gateways=gateways)
    e.out["virtualNetworks"] = [n.body for n in e.nets]


def _vnet(e: Estate, name: str, rg: str, region: str, hub: bool, base: int) -> Net:
    vnet_id = arm_id(e.sub, rg, "Microsoft.Network/virtualNetworks", name)
    etag = e.v.etag()
    net = Net(vnet_id, name, region, hub)
    names = (
        ["GatewaySubnet", "AzureFirewallSubnet", "snet-dns", "snet-mgmt", "snet-shared"]
        if hub
        else ["snet-web", "snet-app", "snet-data", "snet-pe", "snet-batch"]
    )
    for k, sname in enumerate(names):
        prefix = f"{dotted(base + k * 256)}/24"
        props: Body = {
            "provisioningState": "Succeeded",
            "privateEndpointNetworkPolicies": "Disabled",
            "privateLinkServiceNetworkPolicies": "Enabled",
            "delegations": [],
            "ipConfigurations": [],  # every NIC ip configuration in the subnet, filled by the NICs
        }
        # Recent API versions return the plural field alone for some subnets.
        if k % 2:
            props["addressPrefixes"] = [prefix]
        else:
            props["addressPrefix"] = prefix
        subnet_id = f"{vnet_id}/subnets/{sname}"
        if sname not in ("GatewaySubnet", "AzureFirewallSubnet"):
            nsg = e.rng.choice(e.nsgs[region])
            props["networkSecurityGroup"] = {"id": nsg["id"]}
            nsg["properties"]["subnets"].append({"id": subnet_id})
        if not hub or sname == "GatewaySubnet":
            rt = e.rng.choice(e.route_tables[region])
            props["routeTable"] = {"id": rt["id"]}
            rt["properties"]["subnets"].append({"id": subnet_id})
        if sname in ("snet-app", "snet-data"):
            props["serviceEndpoints"] = [
                {
                    "service": "Microsoft.Storage",
                    "locations": [region, *(r for r in REGIONS if r != region)],
                    "provisioningState": "Succeeded",
                }
            ]
        body = {
            "name": sname,
            "id": subnet_id,
            "etag": etag,
            "properties": props,
            "type": "Microsoft.Network/virtualNetworks/subnets",
        }
        net.subnets.append(Subnet(subnet_id, prefix, body))
    net.body = {
        "name": name,
        "id": vnet_id,
        "etag": etag,
        "type": "Microsoft.Network/virtualNetworks",
        "location": region,
        "tags": e.tags(),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": e.v.guid(),
            "addressSpace": {"addressPrefixes": [f"{dotted(base)}/21"]},
            "dhcpOptions": {"dnsServers": []},
            "subnets": [s.body for s in net.subnets],
            "virtualNetworkPeerings": [],
            "enableDdosProtection": False,
            "privateEndpointVNetPolicies": "Disabled",
        },
    }
    return net


def _peer(e: Estate, local: Net, remote: Net, *, transit: bool, remote_gateways: bool = False) -> None:
    name = f"peer-{remote.name}"
    space = {"addressPrefixes": list(remote.body["properties"]["addressSpace"]["addressPrefixes"])}
    local.body["properties"]["virtualNetworkPeerings"].append(
        {
            "name": name,
            "id": f"{local.id}/virtualNetworkPeerings/{name}",
            "etag": local.body["etag"],
            "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": e.v.guid(),
                "peeringState": "Connected",
                "peeringSyncLevel": "FullyInSync",
                "remoteVirtualNetwork": {"id": remote.id},
                "allowVirtualNetworkAccess": True,
                "allowForwardedTraffic": True,
                "allowGatewayTransit": transit,
                "useRemoteGateways": remote_gateways,
                "doNotVerifyRemoteGateways": False,
                "remoteAddressSpace": space,
                "remoteVirtualNetworkAddressSpace": space,
                "remoteBgpCommunities": {
                    "virtualNetworkCommunity": "12076:20000",
                    "regionalCommunity": "12076:50004",
                },
                "peerCompleteVnets": True,
            },
        }
    )


# --- hubs: firewalls, gateways, circuits, connections ---------------------------------------------


def build_hubs(e: Estate) -> None:
    for region in REGIONS:
        hub = next(n for n in e.nets if n.hub and n.region == region)
        rg = e.rg("hub", region)
        firewall_subnet, gateway_subnet = hub.subnets[1], hub.subnets[0]
        fw_ip = firewall_subnet.prefix.replace(".0/24", ".4")
        e.firewall_ip[region] = fw_ip
        if not e.counts["azureFirewalls"]:
            continue  # `plain`: the hub's next hop is an appliance VM, with no gateway or circuit
        e.out["azureFirewalls"].append(_firewall(e, rg, region, firewall_subnet.id, fw_ip))
        circuit = _circuit(e, rg, region)
        e.out["expressRouteCircuits"].append(circuit)
        peer = circuit["id"]
        if e.scale:
            # Landing zones share their connectivity subscription's circuits: groups of 8
            # subscriptions connect to the first one's, and in every other group both regions'
            # hubs use the source region's circuit (one circuit for production and DR).
            if e.index % 8 == 0:
                e.shared[region] = circuit["id"]
            shared_region = SOURCE_REGION if region == TARGET_REGION and e.index // 8 % 2 else region
            peer = e.shared.get(shared_region, circuit["id"])
        for kind in ("ExpressRoute", "Vpn"):
            gw = _gateway(e, rg, region, kind, gateway_subnet)
            e.gateways[region][kind] = gw["id"]
            e.out["virtualNetworkGateways"].append(gw)
        e.out["connections"].append(_connection(e, rg, region, "ExpressRoute", peer))
        e.out["connections"].append(_connection(e, rg, region, "IPsec", None))
    for rt in (t for region in REGIONS for t in e.route_tables[region]):
        for route in rt["properties"]["routes"]:
            if route["properties"].get("nextHopIpAddress") == "FIREWALL":
                route["properties"]["nextHopIpAddress"] = e.firewall_ip[rt["location"]]


def _firewall(e: Estate, rg: str, region: str, subnet_id: str, ip: str) -> Body:
    fw_id = arm_id(e.sub, rg, "Microsoft.Network/azureFirewalls", f"afw-hub-{region}")
    return {
        "name": f"afw-hub-{region}",
        "id": fw_id,
        "etag": e.v.etag(),
        "type": "Microsoft.Network/azureFirewalls",
        "location": region,
        "zones": ["1", "2", "3"],
        "properties": {
            "provisioningState": "Succeeded",
            "sku": {"name": "AZFW_VNet", "tier": "Standard"},
            "threatIntelMode": "Alert",
            "ipConfigurations": [
                {
                    "name": "ipconfig",
                    "id": f"{fw_id}/azureFirewallIpConfigurations/ipconfig",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAddress": ip,
                        "subnet": {"id": subnet_id},
                        "publicIPAddress": {
                            "id": arm_id(
                                e.sub, rg, "Microsoft.Network/publicIPAddresses", f"pip-afw-{region}"
                            )
                        },
                    },
                }
            ],
            "firewallPolicy": {
                "id": arm_id(e.sub, rg, "Microsoft.Network/firewallPolicies", f"afwp-{region}")
            },
            "applicationRuleCollections": [],
            "natRuleCollections": [],
            "networkRuleCollections": [],
            "ipGroups": [],
        },
    }


def _circuit(e: Estate, rg: str, region: str) -> Body:
    name = f"erc-{region}"
    circuit_id = arm_id(e.sub, rg, "Microsoft.Network/expressRouteCircuits", name)
    return {
        "name": name,
        "id": circuit_id,
        "etag": e.v.etag(),
        "type": "Microsoft.Network/expressRouteCircuits",
        "location": region,
        "sku": {"name": "Premium_MeteredData", "tier": "Premium", "family": "MeteredData"},
        "properties": {
            "provisioningState": "Succeeded",
            "allowClassicOperations": False,
            "circuitProvisioningState": "Enabled",
            "serviceProviderProvisioningState": "Provisioned",
            "authorizations": [],
            "peerings": [
                {
                    "name": "AzurePrivatePeering",
                    "id": f"{circuit_id}/peerings/AzurePrivatePeering",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "peeringType": "AzurePrivatePeering",
                        "azureASN": 12076,
                        "peerASN": 65020,
                        "primaryPeerAddressPrefix": "192.168.255.0/30",
                        "secondaryPeerAddressPrefix": "192.168.255.4/30",
                        "state": "Enabled",
                        "vlanId": 100,
                    },
                }
            ],
            "serviceKey": e.v.guid(),
            "serviceProviderProperties": {
                "serviceProviderName": "Equinix",
                "peeringLocation": "Washington DC" if region == SOURCE_REGION else "Silicon Valley",
                "bandwidthInMbps": 1000,
            },
            "globalReachEnabled": False,
        },
    }


def _gateway(e: Estate, rg: str, region: str, kind: str, subnet: Subnet) -> Body:
    name = f"{'ergw' if kind == 'ExpressRoute' else 'vpngw'}-hub-{region}"
    gw_id = arm_id(e.sub, rg, "Microsoft.Network/virtualNetworkGateways", name)
    props: Body = {
        "provisioningState": "Succeeded",
        "resourceGuid": e.v.guid(),
        "gatewayType": kind,
        "ipConfigurations": [
            {
                "name": "default",
                "id": f"{gw_id}/ipConfigurations/default",
                "properties": {
                    "provisioningState": "Succeeded",
                    "privateIPAllocationMethod": "Dynamic",
                    "subnet": {"id": subnet.id},
                    "publicIPAddress": {
                        "id": arm_id(e.sub, rg, "Microsoft.Network/publicIPAddresses", f"pip-{name}")
                    },
                },
            }
        ],
        "enableBgp": kind == "Vpn",
        "activeActive": False,
        "allowRemoteVnetTraffic": False,
        "allowVirtualWanTraffic": False,
        "disableIPSecReplayProtection": False,
        "enablePrivateIpAddress": False,
        "natRules": [],
        "virtualNetworkGatewayPolicyGroups": [],
        "sku": {"name": "ErGw1AZ", "tier": "ErGw1AZ"}
        if kind == "ExpressRoute"
        else {"name": "VpnGw2AZ", "tier": "VpnGw2AZ", "capacity": 2},
    }
    if kind == "Vpn":
        props.update(
            vpnType="RouteBased",
            vpnGatewayGeneration="Generation2",
            bgpSettings={
                "asn": 65515,
                "bgpPeeringAddress": subnet.prefix.replace(".0/24", ".254"),
                "peerWeight": 0,
            },
        )
    return {
        "name": name,
        "id": gw_id,
        "etag": e.v.etag(),
        "type": "Microsoft.Network/virtualNetworkGateways",
        "location": region,
        "properties": props,
    }


def _connection(e: Estate, rg: str, region: str, kind: str, circuit_id: str | None) -> Body:
    name = f"cn-{'er' if kind == 'ExpressRoute' else 's2s'}-{region}"
    gw = e.gateways[region]["ExpressRoute" if kind == "ExpressRoute" else "Vpn"]
    props: Body = {
        "provisioningState": "Succeeded",
        "resourceGuid": e.v.guid(),
        "connectionType": kind,
        "connectionStatus": "Connected",
        "routingWeight": 0,
        "connectionMode": "Default",
        "dpdTimeoutSeconds": 45,
        "useLocalAzureIpAddress": False,
        "expressRouteGatewayBypass": False,
        "enablePrivateLinkFastPath": False,
        "enableBgp": kind == "IPsec",
        "usePolicyBasedTrafficSelectors": False,
        "ipsecPolicies": [],
        "trafficSelectorPolicies": [],
        "ingressBytesTransferred": e.rng.randrange(10**9),
        "egressBytesTransferred": e.rng.randrange(10**9),
        "virtualNetworkGateway1": {"id": gw, "properties": {}},
    }
    if circuit_id:
        props["peer"] = {"id": circuit_id}
    else:
        props["connectionProtocol"] = "IKEv2"
        props["localNetworkGateway2"] = {
            "id": arm_id(e.sub, rg, "Microsoft.Network/localNetworkGateways", f"lgw-onprem-{region}"),
            "properties": {},
        }
    return {
        "name": name,
        "id": arm_id(e.sub, rg, "Microsoft.Network/connections", name),
        "etag": e.v.etag(),
        "type": "Microsoft.Network/connections",
        "location": region,
        "properties": props,
    }
