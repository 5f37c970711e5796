"""Cloud profiles: one object handed to every client and every rule.

Sovereign clouds differ in ARM endpoint, authority, token scope, the FQDNs that ASR
needs, the name the service-tags API uses for the cloud, and their region names.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

REGIONS_FILE = "regions.json"


@dataclass(frozen=True, slots=True)
class RequiredEndpoints:
    """The outbound FQDNs an A2A source VM needs on 443 (DESIGN.md §5), by destination tag.

    `key_vault` and `automation` are the conditional ones ("About networking in Azure VM disaster
    recovery", 2025-10-30 revision: `*.vault.azure.net` for ADE VMs, `*.automation.ext.azure.com`
    for agent auto-update). The Azure China and US Government editions of the page list only the
    four required names, so those clouds leave them None: a rule cannot judge a name no document
    gives, and says so rather than guess.
    """

    storage: str
    identity: str
    site_recovery: str
    service_bus: str
    key_vault: str | None = None
    automation: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The required names, by destination tag (every A2A VM needs these)."""
        return {
            "Storage": self.storage,
            "AzureActiveDirectory": self.identity,
            "AzureSiteRecovery": self.site_recovery,
            "EventHub": self.service_bus,
        }

    def fqdn(self, tag: str) -> str | None:
        """The name of a required or conditional destination tag, None when none is documented."""
        conditional = {"AzureKeyVault": self.key_vault, "GuestAndHybridManagement": self.automation}
        return self.as_dict().get(tag) or conditional.get(tag)


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
            key_vault="*.vault.azure.net",
            automation="*.automation.ext.azure.com",
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


@cache
def regions(cloud: str) -> frozenset[str]:
    """The ARM location names of `cloud`'s regions (`data/regions.json`, which names its source);
    empty for a cloud the file does not know."""
    text = (resources.files("asr_audit") / "data" / REGIONS_FILE).read_text(encoding="utf-8")
    return frozenset(json.loads(text)["clouds"].get(cloud, ()))


def unknown_region(name: str, cloud: str, also: Iterable[str] = ()) -> str | None:
    """Why `name` is not a region of `cloud` (with the closest names), or None when it is one.

    A mistyped region audits nothing and passes, so it is refused rather than trusted. `also`
    adds names known to be real in context (the locations a snapshot's resources are in).
    """
    known = regions(cloud) | {a.lower() for a in also if a}
    if not known or name in known:
        return None
    close = _closest(name, known)
    choices = f"{', '.join(close[:-1])} or {close[-1]}" if len(close) > 1 else "".join(close)
    hint = f"; did you mean {choices}?" if close else ""
    return f"unknown region {name!r} for {cloud}{hint} (regions: {', '.join(sorted(known))})"


def _closest(name: str, known: Iterable[str]) -> list[str]:
    """The known names fewest edits away (up to three, most similar first), if any is close:
    `westus4` is one edit from both `westus` and `westus3`, and either may be what was meant.
    Failing that, the names it abbreviates (`germanywest`)."""
    distances = {k: _edits(name, k) for k in known}
    best = min(distances.values(), default=0)
    if not distances or best > max(2, len(name) // 3):
        return sorted(k for k in known if len(name) >= 4 and k.startswith(name))[:3]
    ties = [k for k, d in distances.items() if d == best]
    ties.sort(key=lambda k: (-difflib.SequenceMatcher(None, name, k).ratio(), k))
    return ties[:3]


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (region names are short: the quadratic table is nothing)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
