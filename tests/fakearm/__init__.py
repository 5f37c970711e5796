"""Fake Azure Resource Manager: a loopback HTTPS server that serves a scenario directory.

Tests import it as `from fakearm import FakeArm` (pytest puts `tests/` on sys.path through
`tests/conftest.py`; scripts under `tests/` get it as their own directory)::

    from fakearm import FakeArm

    with FakeArm("tests/scenarios/healthy", page_size=2, latency=0.0, token="test-token") as arm:
        arm.url          # https://127.0.0.1:PORT  (pass to CloudProfile.with_arm_endpoint)
        arm.ca_bundle    # PEM file with the throw-away CA: set REQUESTS_CA_BUNDLE / SSL_CERT_FILE
                         # (or connection_verify) to it; the machine's own bundle does not trust it
        arm.requests     # [ServedRequest(method, path, query: dict)], every request received
        arm.add_fault(r"/routeTables$", 429, times=1, headers={"Retry-After": "0"})

What it serves (shapes as in /work/shared/api-examples; format of a scenario in
tests/scenarios/README.md):

- `GET /subscriptions`, `GET /subscriptions/{id}` (404 `SubscriptionNotFound` if unknown).
- `GET /providers/Microsoft.Management/managementGroups/{id}/descendants`: the groups and
  subscriptions below a scenario `managementGroups` entry, all levels (404 `NotFound` if unknown).
- `GET /subscriptions/{sub}/providers/{Namespace}/{type}` for every type in
  `scenario.TOP_LEVEL_TYPES` except VNet gateways and connections (ARM lists those per resource
  group only: 404 `InvalidResourceType` at subscription scope).
- `GET /subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}` for every type
  (404 `ResourceGroupNotFound` when no resource of the scenario lives in that group).
- `GET /subscriptions/{sub}/resources?$filter=resourceType eq 'A' or resourceType eq 'B'`
  (generic `{id, name, type, location}` items), `GET /subscriptions/{sub}/resourcegroups`.
- `GET /subscriptions/{sub}/providers/Microsoft.Network/locations/{loc}/serviceTags`: the
  scenario's `serviceTags.json` verbatim (same object for every location).
- `GET {vaultId}/replicationProtectedItems|replicationNetworkMappings|replicationFabrics|
  replicationProtectionContainerMappings|replicationProtectionContainers|replicationPolicies`,
  `GET {containerId}/replicationProtectableItems` and
  `GET {firewallPolicyId}/ruleCollectionGroups`: children whose id starts with the parent's id
  (case-insensitive; ASR ids use `/Subscriptions/`).
- `GET {anyResourceId}` and inline children (`{vnetId}/subnets/{name}`, `{vnetId}/subnets`).
- `GET /subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments`, without a filter:
  the assignments made at the subscription, below it (resource groups, resources) and above it
  (the management groups it sits under, scenario `managementGroups`, and the root); one without
  a scope where its id says. A `$filter`, or a list at any other scope, is a 400.
- Lists page by `page_size` with `nextLink = {arm.url}{path}?api-version=...&$skiptoken=N`
  (other query parameters kept); the last page has no nextLink.
- Every request needs `Authorization: Bearer {token}` (else 401 `InvalidAuthenticationToken`)
  and GETs need `api-version` (else 400 `MissingApiVersionParameter`).
- Any method but GET answers 405 (and is logged), except `POST /providers/Microsoft.ResourceGraph/resources`:
  Resource Graph queries over the same scenario (`fakearm/graph.py`): only asr-audit's own
  `<table> | where type =~ '<type>'` over `resources`, `recoveryservicesresources`,
  `authorizationresources` or `resourcecontainers` (else 400), rows in the subscriptions of the
  body (and, with `authorizationScopeFilter: AtScopeAboveAndBelow`, role assignments made at
  their management groups or the root), paged by `options.$top` / `$skipToken`, ARG's quota headers on every
  answer and a 429 past `graph_quota` (`FakeArm(..., graph_quota=GraphQuota(limit, window))`);
  `arm.graph_queries` lists the queries served. Faults apply as to GETs; a fault's `query` regex
  also sees the KQL text (`add_fault("ResourceGraph", 403, query="virtualnetworks")`).
- Faults (scenario `faults`, or `add_fault`) are checked after auth, before routing: the first
  fault whose regex matches the path (case-insensitive `re.search`) and still has `times` left answers.
- `latency` seconds are slept per request without holding any lock.
- Slow answers (`add_stall(path, seconds)`, `add_trickle(path, interval)`): the answer a matching
  request would get, sent only after `seconds`, or with its body one byte per `interval`; `stop()`
  hangs up on them at once, so a stalled answer never holds the server's shutdown.
- Endless lists (`add_endless_paging(path, fresh=False)`): every page has a new nextLink and serves
  the first page again (or, `fresh`, copies with new ids), for paging-loop and page-cap tests.
  Garbled or truncated bodies are faults with status 200 and a `body`.
"""

from .graph import GraphQuota
from .scenario import Fault, Scenario, ScenarioError, SubscriptionInfo
from .server import FakeArm, ServedRequest

__all__ = ["FakeArm", "Fault", "GraphQuota", "Scenario", "ScenarioError", "ServedRequest", "SubscriptionInfo"]
