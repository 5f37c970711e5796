"""Network resources: ARM JSON -> inventory records (pure functions, no I/O).

Azure spells one fact two ways in several places (singular and plural prefix and port
fields, two remote address spaces on a peering); each parser merges them, because a rule
that reads only one spelling misses half the estate.
"""

from __future__ import annotations

from typing import Any

from asr_audit import ids
from asr_audit.collect.fields import (
    Malformed,
    bool_field,
    flag,
    identity,
    integer,
    list_field,
    merged,
    obj,
    obj_field,
    props,
    ref,
    refs,
    required_id,
    text,
    texts,
)
from asr_audit.inventory import (
    APPLICATION_RULE,
    NETWORK_RULE,
    AzureFirewall,
    Connection,
    ExpressRouteCircuit,
    FirewallPolicy,
    FirewallRule,
    FirewallRuleCollection,
    FirewallRuleCollectionGroup,
    IpConfiguration,
    LoadBalancer,
    LoadBalancingRule,
    NatGateway,
    NetworkInterface,
    NetworkSecurityGroup,
    Peering,
    PublicIpAddress,
    Route,
    RouteTable,
    SecurityRule,
    ServiceTag,
    Subnet,
    VirtualNetwork,
    VirtualNetworkGateway,
)
from asr_audit.inventory.sharing import number, record, shared

# --- virtual networks --------------------------------------------------------------------


def parse_subnet(raw: dict[str, Any], vnet_id: str) -> Subnet | None:
    """None for a subnet with neither id nor name (nothing could refer to it)."""
    p = props(raw)
    name = text(raw.get("name"))
    sid = text(raw.get("id")) or (f"{vnet_id}/subnets/{name}" if name else None)
    if not sid:
        return None
    endpoints = list_field(p, "serviceEndpoints")
    return Subnet(
        id=sid,
        name=name or ids.name_of(sid),
        address_prefixes=merged(p.get("addressPrefix"), p.get("addressPrefixes")),
        network_security_group_id=ref(p.get("networkSecurityGroup")),
        route_table_id=ref(p.get("routeTable")),
        service_endpoints=[s for s in (text(e.get("service")) for e in endpoints) if s],
        service_endpoint_locations={
            svc: texts(e.get("locations")) for e in endpoints if (svc := text(e.get("service")))
        },
        # Strict: a junk value read as "allowed" would hide a subnet with no way out.
        default_outbound_access=(
            None if p.get("defaultOutboundAccess") is None else bool_field(p, "defaultOutboundAccess", True)
        ),
        nat_gateway_id=ref(p.get("natGateway")),
    )


def parse_peering(raw: dict[str, Any]) -> Peering | None:
    pid = text(raw.get("id"))
    if not pid:
        return None
    p = props(raw)
    return Peering(
        id=pid,
        name=text(raw.get("name")) or ids.name_of(pid),
        remote_virtual_network_id=ref(p.get("remoteVirtualNetwork")),
        peering_state=text(p.get("peeringState")),
        remote_address_prefixes=merged(
            obj_field(p, "remoteAddressSpace").get("addressPrefixes"),
            obj_field(p, "remoteVirtualNetworkAddressSpace").get("addressPrefixes"),
        ),
        allow_gateway_transit=flag(p.get("allowGatewayTransit")),
        use_remote_gateways=flag(p.get("useRemoteGateways")),
        allow_forwarded_traffic=flag(p.get("allowForwardedTraffic")),
    )


def parse_virtual_network(item: dict[str, Any]) -> VirtualNetwork:
    rid, name, location = identity(item)
    p = props(item)
    subnets = [parse_subnet(s, rid) for s in list_field(p, "subnets")]
    peerings = [parse_peering(x) for x in list_field(p, "virtualNetworkPeerings")]
    return VirtualNetwork(
        id=rid,
        name=name,
        location=location,
        address_prefixes=texts(obj_field(p, "addressSpace").get("addressPrefixes")),
        subnets=[s for s in subnets if s],
        peerings=[x for x in peerings if x],
        dns_servers=texts(obj_field(p, "dhcpOptions").get("dnsServers")),
    )


# --- NSGs and route tables -------------------------------------------------------------------


def parse_security_rule(raw: dict[str, Any], default: bool = False) -> SecurityRule:
    """A rule without priority, direction or access cannot be evaluated: the NSG is malformed
    rather than silently missing a rule (a dropped Deny would read as an Allow)."""
    p = props(raw)
    priority = integer(p.get("priority"))
    direction, access = text(p.get("direction")), text(p.get("access"))
    if priority is None or not direction or not access:
        raise Malformed(f"security rule {raw.get('name')!r} lacks priority, direction or access")
    return record(
        SecurityRule(
            name=text(raw.get("name")) or ids.name_of(text(raw.get("id"))),
            priority=number(priority),
            direction=direction,
            access=access,
            protocol=text(p.get("protocol")) or "*",
            destination_port_ranges=shared(
                merged(p.get("destinationPortRange"), p.get("destinationPortRanges"))
            ),
            destination_address_prefixes=shared(
                merged(p.get("destinationAddressPrefix"), p.get("destinationAddressPrefixes"))
            ),
            destination_application_security_groups=shared(refs(p, "destinationApplicationSecurityGroups")),
            source_address_prefixes=shared(
                merged(p.get("sourceAddressPrefix"), p.get("sourceAddressPrefixes"))
            ),
            source_port_ranges=shared(merged(p.get("sourcePortRange"), p.get("sourcePortRanges"))),
            source_application_security_groups=shared(refs(p, "sourceApplicationSecurityGroups")),
            default=default,
        )
    )


def parse_network_security_group(item: dict[str, Any]) -> NetworkSecurityGroup:
    rid, name, location = identity(item)
    p = props(item)
    return NetworkSecurityGroup(
        id=rid,
        name=name,
        location=location,
        security_rules=[parse_security_rule(r) for r in list_field(p, "securityRules")],
        default_security_rules=[parse_security_rule(r, True) for r in list_field(p, "defaultSecurityRules")],
    )


def parse_route(raw: dict[str, Any]) -> Route:
    p = props(raw)
    prefix, hop = text(p.get("addressPrefix")), text(p.get("nextHopType"))
    if not prefix or not hop:
        raise Malformed(f"route {raw.get('name')!r} lacks addressPrefix or nextHopType")
    return record(
        Route(
            name=text(raw.get("name")) or ids.name_of(text(raw.get("id"))),
            address_prefix=prefix,
            next_hop_type=hop,
            next_hop_ip_address=text(p.get("nextHopIpAddress")),
        )
    )


def parse_route_table(item: dict[str, Any]) -> RouteTable:
    rid, name, location = identity(item)
    p = props(item)
    return RouteTable(
        id=rid,
        name=name,
        location=location,
        routes=[parse_route(r) for r in list_field(p, "routes")],
        disable_bgp_route_propagation=flag(p.get("disableBgpRoutePropagation")),
    )


# --- hybrid connectivity -----------------------------------------------------------------------


def parse_express_route_circuit(item: dict[str, Any]) -> ExpressRouteCircuit:
    rid, name, location = identity(item)
    p = props(item)
    provider = obj_field(p, "serviceProviderProperties")
    sku = obj(item.get("sku"))
    return ExpressRouteCircuit(
        id=rid,
        name=name,
        location=location,
        peering_location=text(provider.get("peeringLocation")),
        service_provider_name=text(provider.get("serviceProviderName")),
        sku_tier=text(sku.get("tier")),
        sku_family=text(sku.get("family")),
        circuit_provisioning_state=text(p.get("circuitProvisioningState")),
        service_provider_provisioning_state=text(p.get("serviceProviderProvisioningState")),
    )


def parse_virtual_network_gateway(item: dict[str, Any]) -> VirtualNetworkGateway:
    """The VNet is the parent of the GatewaySubnet its ip configuration sits in."""
    rid, name, location = identity(item)
    p = props(item)
    subnet_ids = [s for s in (ref(props(c).get("subnet")) for c in list_field(p, "ipConfigurations")) if s]
    return VirtualNetworkGateway(
        id=rid,
        name=name,
        location=location,
        gateway_type=text(p.get("gatewayType")),
        vpn_type=text(p.get("vpnType")),
        virtual_network_id=ids.parent_of(subnet_ids[0]) if subnet_ids else None,
        gateway_default_site_id=ref(p.get("gatewayDefaultSite")),
        enable_bgp=flag(p.get("enableBgp")),
    )


def parse_connection(item: dict[str, Any]) -> Connection:
    rid, name, location = identity(item)
    p = props(item)
    return Connection(
        id=rid,
        name=name,
        location=location,
        connection_type=text(p.get("connectionType")),
        virtual_network_gateway1_id=ref(p.get("virtualNetworkGateway1")),
        virtual_network_gateway2_id=ref(p.get("virtualNetworkGateway2")),
        local_network_gateway2_id=ref(p.get("localNetworkGateway2")),
        peer_id=ref(p.get("peer")),
        connection_status=text(p.get("connectionStatus")),
    )


# --- Azure Firewall and firewall policies ---------------------------------------------------

NAT_COLLECTION = "firewallpolicynatrulecollection"
_CLASSIC_COLLECTIONS = (
    ("networkRuleCollections", NETWORK_RULE),
    ("applicationRuleCollections", APPLICATION_RULE),
)


def parse_firewall_rule(raw: dict[str, Any], rule_type: str | None = None) -> FirewallRule:
    """Classic rules take their type from the collection they sit in, policy rules carry
    `ruleType`. Application rules list `{protocolType, port}` objects (kept as `Https:443`);
    network rules say `protocols` (classic) or `ipProtocols` (policy)."""
    kind = rule_type or text(raw.get("ruleType")) or ""
    if kind == APPLICATION_RULE:
        protocols = [
            f"{t}:{port}" if (port := integer(x.get("port"))) is not None else t
            for x in list_field(raw, "protocols")
            if (t := text(x.get("protocolType")))
        ]
    else:
        protocols = merged(raw.get("protocols"), raw.get("ipProtocols"))
    return FirewallRule(
        name=text(raw.get("name")) or "",
        rule_type=kind,
        protocols=protocols,
        source_addresses=texts(raw.get("sourceAddresses")),
        source_ip_groups=texts(raw.get("sourceIpGroups")),
        destination_addresses=texts(raw.get("destinationAddresses")),
        destination_ip_groups=texts(raw.get("destinationIpGroups")),
        destination_ports=texts(raw.get("destinationPorts")),
        destination_fqdns=texts(raw.get("destinationFqdns")),
        target_fqdns=texts(raw.get("targetFqdns")),
        fqdn_tags=texts(raw.get("fqdnTags")),
        web_categories=texts(raw.get("webCategories")),
        target_urls=texts(raw.get("targetUrls")),
    )


def _rule_collection(name: Any, body: dict[str, Any], rule_type: str | None = None) -> FirewallRuleCollection:
    """A collection without priority or action cannot be placed in the processing order: the
    whole resource is malformed rather than silently missing it (a dropped Deny reads as Allow)."""
    priority = integer(body.get("priority"))
    action = text(obj_field(body, "action").get("type"))
    if priority is None or not action:
        raise Malformed(f"rule collection {name!r} lacks priority or action")
    return FirewallRuleCollection(
        name=text(name) or "",
        priority=priority,
        action=action,
        rules=[parse_firewall_rule(r, rule_type) for r in list_field(body, "rules")],
    )


def parse_azure_firewall(item: dict[str, Any]) -> AzureFirewall:
    """Classic rule collections sit inline (`properties` wrapped); a policy-managed firewall
    has none and names its `firewallPolicy` instead."""
    rid, name, location = identity(item)
    p = props(item)
    addresses = merged(
        [props(c).get("privateIPAddress") for c in list_field(p, "ipConfigurations")],
        obj_field(p, "hubIPAddresses").get("privateIPAddress"),  # firewalls in a virtual WAN hub
    )
    collections = [
        _rule_collection(c.get("name"), props(c), kind)
        for field, kind in _CLASSIC_COLLECTIONS
        for c in list_field(p, field)
    ]
    return AzureFirewall(
        id=rid,
        name=name,
        location=location,
        private_ip_addresses=addresses,
        firewall_policy_id=ref(p.get("firewallPolicy")),
        rule_collections=collections,
    )


def parse_firewall_policy(item: dict[str, Any]) -> FirewallPolicy:
    """The policy as listed; its rule collection groups are child resources, listed apart."""
    rid, name, location = identity(item)
    p = props(item)
    return FirewallPolicy(
        id=rid,
        name=name,
        location=location,
        base_policy_id=ref(p.get("basePolicy")),
        sku_tier=text(obj_field(p, "sku").get("tier")),
        rule_collection_group_ids=refs(p, "ruleCollectionGroups"),
    )


def parse_rule_collection_group(item: dict[str, Any]) -> FirewallRuleCollectionGroup:
    """Filter collections only: NAT collections translate inbound traffic and never allow or
    deny an outbound flow."""
    rid = required_id(item)
    p = props(item)
    priority = integer(p.get("priority"))
    if priority is None:
        raise Malformed(f"rule collection group {item.get('name')!r} lacks priority")
    return FirewallRuleCollectionGroup(
        id=rid,
        name=text(item.get("name")) or ids.name_of(rid),
        priority=priority,
        rule_collections=[
            _rule_collection(c.get("name"), c)
            for c in list_field(p, "ruleCollections")
            if (text(c.get("ruleCollectionType")) or "").lower() != NAT_COLLECTION
        ],
    )


# --- NICs ---------------------------------------------------------------------------------------


def parse_network_interface(item: dict[str, Any]) -> NetworkInterface:
    rid, name, location = identity(item)
    p = props(item)
    configs = [
        IpConfiguration(
            name=text(c.get("name")) or ids.name_of(text(c.get("id"))),
            subnet_id=ref(props(c).get("subnet")),
            private_ip_address=text(props(c).get("privateIPAddress")),
            application_security_group_ids=refs(props(c), "applicationSecurityGroups"),
            public_ip_address_id=ref(props(c).get("publicIPAddress")),
            load_balancer_backend_address_pool_ids=refs(props(c), "loadBalancerBackendAddressPools"),
        )
        for c in list_field(p, "ipConfigurations")
    ]
    return NetworkInterface(
        id=rid,
        name=name,
        location=location,
        virtual_machine_id=ref(p.get("virtualMachine")),
        network_security_group_id=ref(p.get("networkSecurityGroup")),
        ip_configurations=configs,
    )


# --- load balancers: what gives their backend pools a way out ------------------------------------


def _public(frontend: dict[str, Any]) -> bool:
    p = props(frontend)
    return bool(ref(p.get("publicIPAddress")) or ref(p.get("publicIPPrefix")))


def parse_load_balancer(item: dict[str, Any]) -> LoadBalancer:
    """Pools are named on rules by id (`backendAddressPool`, and the plural on rules that serve
    several); a pool named by an outbound rule is what a Standard load balancer lets out."""
    rid, name, location = identity(item)
    p = props(item)
    rules = [
        LoadBalancingRule(
            frontend_ip_configuration_id=ref(props(r).get("frontendIPConfiguration")),
            backend_address_pool_ids=merged(
                [ref(props(r).get("backendAddressPool"))], refs(props(r), "backendAddressPools")
            ),
            disable_outbound_snat=flag(props(r).get("disableOutboundSnat")),
        )
        for r in list_field(p, "loadBalancingRules")
    ]
    return LoadBalancer(
        id=rid,
        name=name,
        location=location,
        sku_name=text(obj(item.get("sku")).get("name")),
        public_frontend_ids=[
            f for c in list_field(p, "frontendIPConfigurations") if _public(c) and (f := required_id(c))
        ],
        backend_address_pool_ids=[required_id(b) for b in list_field(p, "backendAddressPools")],
        outbound_rule_pool_ids=merged(
            [ref(props(r).get("backendAddressPool")) for r in list_field(p, "outboundRules")]
        ),
        load_balancing_rules=rules,
    )


# --- NAT gateways: whether they hold a public IP to SNAT to ------------------------------------


def parse_nat_gateway(item: dict[str, Any]) -> NatGateway:
    """Addresses and prefixes count alike (either gives SNAT ports); each reference must be an
    object with an id, since a junk one read as "no public IP" would raise a false alarm."""
    rid, name, location = identity(item)
    p = props(item)

    def ids_of(*keys: str) -> list[str]:
        return [required_id(r) for key in keys for r in list_field(p, key)]

    return NatGateway(
        id=rid,
        name=name,
        location=location,
        sku_name=text(obj(item.get("sku")).get("name")),
        public_ip_ids=ids_of("publicIpAddresses", "publicIpPrefixes"),
        public_ipv6_ids=ids_of("publicIpAddressesV6", "publicIpPrefixesV6"),
    )


# --- public IP addresses: whether a reference to one is a way out ------------------------------


def parse_public_ip_address(item: dict[str, Any]) -> PublicIpAddress:
    """Every property is optional in the schema (PublicIpAddressListAll omits `sku`): an absent one
    stays None, for the rule to judge as unknown rather than guess Basic or Standard."""
    rid, name, location = identity(item)
    p = props(item)
    return PublicIpAddress(
        id=rid,
        name=name,
        location=location,
        sku_name=text(obj_field(item, "sku").get("name")),
        ip_address=text(p.get("ipAddress")),
        version=text(p.get("publicIPAddressVersion")),
        allocation_method=text(p.get("publicIPAllocationMethod")),
    )


# --- service tags -----------------------------------------------------------------------------


def parse_service_tag(item: dict[str, Any]) -> ServiceTag:
    """One entry of the service-tags `values` array; IPv4 and IPv6 prefixes kept alike."""
    name = text(item.get("name")) or text(item.get("id"))
    if not name:
        raise Malformed("service tag has no name")
    p = props(item)
    return ServiceTag(
        name=name,
        region=text(p.get("region")),
        system_service=text(p.get("systemService")),
        address_prefixes=texts(p.get("addressPrefixes")),
    )
