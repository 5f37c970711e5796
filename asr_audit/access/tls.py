"""TLS trust for a scan: the CA bundle read once per scan, not once per connection.

requests hands urllib3 the path of the bundle it verifies with, and urllib3 loads that file into a
new SSL context for every connection it opens. With OpenSSL 3, loading a system or certifi bundle
(~140 certificates) costs 20-40 ms of CPU, and a scan at concurrency 16, then through six clients,
opened 32 connections: about a second of CPU on a 7,008-resource tenant (bench/README.md). One context,
loaded once, now serves every connection of the scan, those through an HTTPS_PROXY tunnel too.

Trust is unchanged: the bundle requests would have used (`clients.ca_bundle_from_env`, else
certifi's, requests' default), and nothing else; certificates and host names are verified on every
connection as before. A bundle that cannot be loaded leaves requests to report it on each read, as
it always did.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH, extract_zipped_paths


def default_bundle() -> str:
    """The bundle requests verifies with when the environment names none (certifi's)."""
    return str(extract_zipped_paths(DEFAULT_CA_BUNDLE_PATH))


def trust_context(bundle: str) -> ssl.SSLContext | None:
    """`bundle` (a file, or a directory of hashed certificates) in a context set up as urllib3 sets
    up its own; None when it cannot be read as one."""
    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    try:
        if os.path.isdir(bundle):
            context.load_verify_locations(capath=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    except (OSError, ssl.SSLError, ValueError):
        return None
    return context


class SharedTrustAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections, direct or through a proxy, all verify with one context."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self.context = context  # before HTTPAdapter.__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, ssl_context=self.context, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return super().proxy_manager_for(proxy, ssl_context=self.context, **proxy_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Certificates stay required. No bundle path goes to urllib3, which would load it into
        the context again for each connection (and requests names certifi's when told `True`)."""
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None
