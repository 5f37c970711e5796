"""Collection: ARM (read-only) -> Inventory. It never judges; every failure is coverage.

`scan()` imports the HTTP machinery and the SDK clients only when called, so loading this
package (for `ScanRequest`, or a snapshot replay) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asr_audit.clouds import CloudProfile
from asr_audit.inventory import Inventory

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline.transport import HttpTransport

    from asr_audit.collect.pipeline import RetrySettings


@dataclass
class ScanRequest:
    subscriptions: list[str]  # GUIDs or display names
    cloud: CloudProfile
    concurrency: int = 8
    regions: list[str] = field(default_factory=list)  # hint for the service-tags location
    all_subscriptions: bool = False  # add every subscription the credential can read


def scan(
    request: ScanRequest,
    credential: TokenCredential,
    progress: Callable[[str, str, str], None] | None = None,
    *,
    transport: HttpTransport | None = None,  # type: ignore[type-arg]
    retry: RetrySettings | None = None,
) -> Inventory:
    """Collect the inventory of the requested subscriptions.

    Raises `UsageError` for a name no readable subscription has, `AuthError` when the
    credential fails or no requested subscription is readable; otherwise always returns,
    with per-collector outcomes in `inventory.coverage`. `progress(subscription, collector,
    status)` is called from the calling thread after each step. `transport` and `retry`
    exist for tests (a fake azure-core transport, short retry waits).
    """
    from asr_audit.collect.pipeline import ClientFactory
    from asr_audit.collect.scheduler import Scan

    factory = ClientFactory(
        credential, request.cloud, retry=retry, transport=transport, pool_size=request.concurrency
    )
    try:
        runner = Scan(factory, request.cloud.arm_endpoint, request.concurrency, request.regions, progress)
        inventory = runner.run(request.subscriptions, request.all_subscriptions)
    finally:
        factory.close()
    inventory.cloud = request.cloud.name
    return inventory
