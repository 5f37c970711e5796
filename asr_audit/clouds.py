"""Cloud profiles: one object handed to every client and every rule.

Sovereign clouds differ in ARM endpoint, authority, token scope, the FQDNs that ASR
needs, and the name the service-tags API uses for the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class RequiredEndpoints:
    """The outbound FQDNs an A2A source VM needs on 443 (DESIGN.md §5)."""

    storage: str
    identity: str
    site_recovery: str
    service_bus: str

    def as_dict(self) -> dict[str, str]:
        return {
            "Storage": self.storage,
            "AzureActiveDirectory": self.identity,
            "AzureSiteRecovery": self.site_recovery,
            "EventHub": self.service_bus,
        }


@dataclass(frozen=True, slots=True)
class CloudProfile:
    name: str  # AzureCloud | AzureChinaCloud | AzureUSGovernment | Custom
    arm_endpoint: str
    authority_host: str
    credential_scope: str
    endpoints: RequiredEndpoints
    service_tags_cloud: str  # the `cloud` field of the service-tags response

    def with_arm_endpoint(self, url: str) -> CloudProfile:
        """Another ARM endpoint (Azure Stack Hub, private link, a test server); same token scope."""
        return replace(self, arm_endpoint=url.rstrip("/"))


CLOUDS: dict[str, CloudProfile] = {
    "AzureCloud": CloudProfile(
        name="AzureCloud",
        arm_endpoint="https://management.azure.com",
        authority_host="https://login.microsoftonline.com",
        credential_scope="https://management.azure.com/.default",
        endpoints=RequiredEndpoints(
            storage="*.blob.core.windows.net",
            identity="login.microsoftonline.com",
            site_recovery="*.hypervrecoverymanager.windowsazure.com",
            service_bus="*.servicebus.windows.net",
        ),
        service_tags_cloud="Public",
    ),
    "AzureChinaCloud": CloudProfile(
        name="AzureChinaCloud",
        arm_endpoint="https://management.chinacloudapi.cn",
        authority_host="https://login.chinacloudapi.cn",
        credential_scope="https://management.chinacloudapi.cn/.default",
        endpoints=RequiredEndpoints(
            storage="*.blob.core.chinacloudapi.cn",
            identity="login.chinacloudapi.cn",
            site_recovery="*.hypervrecoverymanager.windowsazure.cn",
            service_bus="*.servicebus.chinacloudapi.cn",
        ),
        service_tags_cloud="China",
    ),
    "AzureUSGovernment": CloudProfile(
        name="AzureUSGovernment",
        arm_endpoint="https://management.usgovcloudapi.net",
        authority_host="https://login.microsoftonline.us",
        credential_scope="https://management.usgovcloudapi.net/.default",
        endpoints=RequiredEndpoints(
            storage="*.blob.core.usgovcloudapi.net",
            identity="login.microsoftonline.us",
            site_recovery="*.hypervrecoverymanager.windowsazure.us",
            service_bus="*.servicebus.usgovcloudapi.net",
        ),
        service_tags_cloud="AzureGovernment",
    ),
}
