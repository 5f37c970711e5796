"""Shared fixtures: scenario paths, a fake ARM server factory, and a loopback-only network guard."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakearm import FakeArm

TESTS_DIR = Path(__file__).resolve().parent
SCENARIOS_DIR = TESTS_DIR / "scenarios"


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> Iterator[None]:
    """No test may reach anything but 127.0.0.1: a stray call to Azure fails loudly, not slowly."""
    original_connect = socket.socket.connect
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"test tried to reach {address!r}; only loopback is allowed")
        original_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(f"test tried to resolve {host!r}; only loopback is allowed")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo


@pytest.fixture
def fake_arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeArm]]:
    """Factory: `fake_arm("healthy", page_size=2)` starts a server on a scenario name or path.

    The process trusts its CA for the test (REQUESTS_CA_BUNDLE and SSL_CERT_FILE); servers stop
    at teardown.
    """
    started: list[FakeArm] = []

    def start(scenario: str | Path | Any, **kwargs: Any) -> FakeArm:
        if isinstance(scenario, str) and (SCENARIOS_DIR / scenario).is_dir():
            scenario = SCENARIOS_DIR / scenario
        arm = FakeArm(scenario, **kwargs).start()
        started.append(arm)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", arm.ca_bundle)
        monkeypatch.setenv("SSL_CERT_FILE", arm.ca_bundle)
        return arm

    yield start
    for arm in started:
        arm.stop()
