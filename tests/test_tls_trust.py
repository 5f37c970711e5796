"""One TLS trust context per scan (access/tls.py): the CA bundle is loaded once, every connection
verifies with it, directly or through an HTTPS_PROXY tunnel, and a bundle that cannot be loaded
is left to requests, which reports it on each read as before."""

from __future__ import annotations

import select
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import urllib3.connection
from fakearm import FakeArm
from test_collect_fakearm import ALL_SUBS, EXAMPLES, NETWORK_SUB, scan_fake
from test_collect_transport import RecordingCredential

from asr_audit.access import tls
from asr_audit.access.clients import ClientFactory
from asr_audit.access.clouds import CLOUDS
from asr_audit.errors import AuthError


def _transport(factory: ClientFactory) -> Any:
    return factory.client._client._pipeline._transport


def test_the_scan_s_client_verifies_with_one_context_holding_the_env_bundle(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", arm.ca_bundle)
    factory = ClientFactory(RecordingCredential(), CLOUDS["AzureCloud"], pool_size=16)
    try:
        adapter = _transport(factory).session.get_adapter("https://x")
        assert isinstance(adapter, tls.SharedTrustAdapter)
        assert adapter.context.verify_mode == ssl.CERT_REQUIRED
        assert adapter.context.cert_store_stats()["x509_ca"] == 1  # the fake's CA, and nothing else
        assert _transport(factory).connection_config.verify is True
        assert adapter.poolmanager.connection_pool_kw["maxsize"] == 16
    finally:
        factory.close()


def test_without_a_bundle_in_the_environment_certifi_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    factory = ClientFactory(RecordingCredential(), CLOUDS["AzureCloud"])
    try:
        adapter = _transport(factory).session.get_adapter("https://x")
        assert isinstance(adapter, tls.SharedTrustAdapter)
        with open(requests.certs.where(), encoding="ascii") as bundle:
            certificates = bundle.read().count("BEGIN CERTIFICATE")
        assert adapter.context.cert_store_stats()["x509"] == certificates > 100
    finally:
        factory.close()


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_bundle_that_cannot_be_loaded_is_left_to_requests(
    content: str | None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content, encoding="ascii")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert tls.trust_context(str(bundle)) is None
    factory = ClientFactory(RecordingCredential(), CLOUDS["AzureCloud"])
    try:
        transport = _transport(factory)
        assert transport.connection_config.verify == str(bundle)
        assert not isinstance(transport.session.get_adapter("https://x"), tls.SharedTrustAdapter)
    finally:
        factory.close()


@pytest.fixture
def wrapped(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """How urllib3 was asked to wrap each connection's socket in TLS."""
    calls: list[dict[str, Any]] = []
    original = urllib3.connection._ssl_wrap_socket_and_match_hostname

    def recording(sock: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(sock, **kwargs)

    monkeypatch.setattr(urllib3.connection, "_ssl_wrap_socket_and_match_hostname", recording)
    return calls


def test_a_scan_verifies_every_connection_with_the_one_context(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch, wrapped: list[dict[str, Any]]
) -> None:
    arm = fake_arm("api-examples", page_size=2)
    inventory = scan_fake(arm, monkeypatch, ALL_SUBS)
    assert len(inventory.subscriptions) == 4 and inventory.virtual_networks
    assert len(wrapped) > 1
    assert all(call["ssl_context"] is not None for call in wrapped)
    assert len({id(call["ssl_context"]) for call in wrapped}) == 1
    assert all(call["ca_certs"] is None and call["ca_cert_dir"] is None for call in wrapped)
    assert all(call["cert_reqs"] == "CERT_REQUIRED" for call in wrapped)


def test_a_certificate_from_another_ca_is_still_refused(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = fake_arm("api-examples")
    other = FakeArm(EXAMPLES).start()  # another throw-away CA
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", other.ca_bundle)
        with pytest.raises(AuthError, match="CERTIFICATE_VERIFY_FAILED"):
            scan_fake(arm, monkeypatch, [NETWORK_SUB])
    finally:
        other.stop()
    assert arm.requests == []


@pytest.fixture
def connect_proxy() -> Iterator[tuple[str, list[str]]]:
    """A plain HTTP CONNECT proxy on 127.0.0.1: (its URL, the targets it was asked to tunnel to)."""
    listener = socket.create_server(("127.0.0.1", 0))
    tunnels: list[str] = []

    def relay(client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            tunnels.append(target)
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pair = {client: upstream, upstream: client}
                while True:
                    ready, _, _ = select.select(list(pair), [], [], 5)
                    if not ready:
                        return
                    for end in ready:
                        data = end.recv(65536)
                        if not data:
                            return
                        pair[end].sendall(data)

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=relay, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", tunnels
    finally:
        listener.close()


def test_connections_through_a_proxy_tunnel_verify_with_the_same_context(
    fake_arm: Callable[..., FakeArm],
    monkeypatch: pytest.MonkeyPatch,
    connect_proxy: tuple[str, list[str]],
    wrapped: list[dict[str, Any]],
) -> None:
    """Without the context on the proxy's pools, urllib3 would verify the tunnelled connections
    against the system's CAs, which do not hold the fake's: the scan would read nothing."""
    arm = fake_arm("api-examples")
    monkeypatch.setenv("SSL_CERT_FILE", requests.certs.where())  # OpenSSL's defaults: not the fake's CA
    url, tunnels = connect_proxy
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    inventory = scan_fake(arm, monkeypatch, [NETWORK_SUB])
    assert [s.id for s in inventory.subscriptions] == [NETWORK_SUB] and inventory.virtual_networks
    port = arm.url.rsplit(":", 1)[1].rstrip("/")
    assert tunnels and set(tunnels) == {f"127.0.0.1:{port}"}
    targets = [call for call in wrapped if call["server_hostname"] == "127.0.0.1"]
    assert targets and all(call["ssl_context"] is not None for call in targets)
    assert len({id(call["ssl_context"]) for call in targets}) == 1


def test_a_directory_of_hashed_certificates_is_trusted_as_requests_trusts_it(
    fake_arm: Callable[..., FakeArm], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """REQUESTS_CA_BUNDLE may name a directory (as /etc/ssl/certs), which OpenSSL searches by
    subject hash; ca-certificates, which installs such directories, depends on the openssl tool."""
    arm = fake_arm("api-examples")
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", arm.ca_bundle],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copy(arm.ca_bundle, directory / f"{subject_hash}.0")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(directory))
    inventory = scan_fake(arm, monkeypatch, [NETWORK_SUB])
    assert [s.id for s in inventory.subscriptions] == [NETWORK_SUB] and inventory.virtual_networks
    (directory / f"{subject_hash}.0").unlink()  # an empty directory trusts nothing
    with pytest.raises(AuthError, match="CERTIFICATE_VERIFY_FAILED"):
        scan_fake(arm, monkeypatch, [NETWORK_SUB])
