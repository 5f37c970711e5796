"""The management client of a scan, with the read-only guard, the bounded retry, the timeouts
and client-side pacing in its pipeline.

Requests go through the client's own pipeline (`send_request`) so auth, retry, TLS and the ARM
policies stay the SDK's; the bodies are parsed by collect as plain JSON, since SDK model
deserialisation costs 8-10x more CPU and the inventory is our own model anyway (DESIGN.md §6,
"Measured on these machines").

One client serves every resource provider. Collect builds each URL with its own api-version
(collect/endpoints.py), so a client contributes only its pipeline, and that pipeline is the same in
every management package: azure-mgmt-core's ARM policies, azure-core's retry and transport. The
network, compute, storage and Site Recovery packages were imported just to build theirs, which cost
0.4-0.6 s of every scan's CPU; a 7,008-resource audit took 2.5-3.0 s with them and 1.9-2.1 s without
(bench/README.md, target 1).
"""

from __future__ import annotations

import os
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.pipeline.transport import HttpTransport

from asr_audit import __version__
from asr_audit.access import tls
from asr_audit.access.clouds import CloudProfile
from asr_audit.access.credential import SharedToken
from asr_audit.access.policies import ReadBodyPolicy, ReadOnlyGuardPolicy, RetrySettings
from asr_audit.access.server_time import ServerDatePolicy, ServerTime
from asr_audit.access.throttle import ReadBudget, ReadBudgetPolicy
from asr_audit.access.timeouts import DeadlinePolicy, RequestTimeoutPolicy, ScanClock, Watchdog

# Its requests name the tool ahead of the SDK's own moniker (which says mgmt-resource whatever the
# provider), so that whoever reads ARM's request logs sees what sent them.
USER_AGENT = f"asr-audit/{__version__}"

# How much of a body each read asks for. azure-core's default is 4 KiB, so a 1 MB page of NSGs went
# through ~250 reads, each through azure-core, requests, urllib3 and http.client: at 64 KiB the
# 4 x 7,008-resource bench scan took 8 % less CPU (1.44-1.48 -> 1.32-1.36 s, bench/README.md).
READ_BLOCK_BYTES = 64 * 1024

# The clients want a subscription id, but every URL we send names its own subscription.
_UNUSED_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


def ca_bundle_from_env() -> str | None:
    """TLS trust for a custom ARM endpoint (DESIGN.md §3): REQUESTS_CA_BUNDLE, then SSL_CERT_FILE,
    then CURL_CA_BUNDLE (which requests itself would read when the first two are unset)."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value
    return None


class ClientFactory:
    """Builds the scan's management client up front, in the calling thread.

    The SDK is imported only when a scan starts (DESIGN.md §6); doing it here, before the worker
    pool exists, keeps the import out of the workers, where it would serialise on the import lock
    and delay the first requests. Every worker sends through this one client: one token, one
    `ReadBudget` (ARM's limits count requests, not clients), the scan's clock (timeouts and
    deadline, see timeouts.py) and one connection pool.
    """

    def __init__(
        self,
        credential: TokenCredential,
        cloud: CloudProfile,
        *,
        retry: RetrySettings | None = None,
        transport: HttpTransport | None = None,  # type: ignore[type-arg]
        pool_size: int = 10,
        budget: ReadBudget | None = None,
        clock: ScanClock | None = None,
    ) -> None:
        self._credential = SharedToken(credential)
        self._credential.prefetch(cloud.credential_scope)  # while the SDK below imports
        self._cloud = cloud
        self._retry = retry or RetrySettings()
        self._transport = transport  # tests: a fake transport
        self._pool_size = pool_size
        self._budget = budget or ReadBudget()
        self._clock = clock or ScanClock()
        self._watchdog = Watchdog()
        self.server_time = ServerTime()  # the latest `Date` ARM answered with: when the data is from
        self.client: Any = self._build()

    def _build(self) -> Any:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(
            self._credential,
            _UNUSED_SUBSCRIPTION,
            base_url=self._cloud.arm_endpoint,
            credential_scopes=[self._cloud.credential_scope],
            per_call_policies=[DeadlinePolicy(self._clock)],
            per_retry_policies=[
                ReadOnlyGuardPolicy(),
                ReadBudgetPolicy(self._budget),  # may wait: the timeouts are capped after it
                RequestTimeoutPolicy(self._clock),
                ReadBodyPolicy(self._clock, self._watchdog),
                ServerDatePolicy(self.server_time),
            ],
            retry_policy=self._retry.policy(),
            transport=self._transport or self._requests_transport(),
            user_agent=USER_AGENT,
        )

    def _requests_transport(self) -> HttpTransport:  # type: ignore[type-arg]
        """A requests transport whose pool fits the worker count (requests defaults to 10), and
        which reads the environment once, here, instead of on every request.

        With `trust_env`, requests looks up `~/.netrc` for each request, and a matching entry (a
        `default` line matches every host) replaces the bearer token with Basic credentials: ARM
        answers 401 to every read, and the netrc password went to ARM. Reading the environment per
        request (netrc, proxies, CA variables) was also 6 % of a 100-subscription scan's CPU. The
        proxy for the ARM endpoint (HTTPS_PROXY, NO_PROXY) is resolved once instead, and the CA
        bundle is loaded once for the scan (tls.py)."""
        import requests
        from azure.core.pipeline.transport import RequestsTransport

        session = requests.Session()
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(self._cloud.arm_endpoint)
        connections, maxsize = 4, max(10, self._pool_size)
        bundle = ca_bundle_from_env() or tls.default_bundle()
        context = tls.trust_context(bundle)
        verify: bool | str = True  # with the shared context, which holds the bundle
        if context is not None:
            adapter: requests.adapters.HTTPAdapter = tls.SharedTrustAdapter(
                context, pool_connections=connections, pool_maxsize=maxsize
            )
        else:  # unreadable: requests reports it on each read, as it always has
            adapter = requests.adapters.HTTPAdapter(pool_connections=connections, pool_maxsize=maxsize)
            verify = bundle
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return RequestsTransport(
            session=session,
            session_owner=True,
            connection_verify=verify,
            connection_data_block_size=READ_BLOCK_BYTES,
        )

    def close(self) -> None:
        self.client.close()
        self._watchdog.close()
