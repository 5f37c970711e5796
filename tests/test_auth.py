"""Credential selection: a static token from the environment, else DefaultAzureCredential."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import azure.identity
import pytest
from azure.identity import CredentialUnavailableError

from asr_audit.access.clouds import CLOUDS
from asr_audit.access.credential import TOKEN_ENV, StaticTokenCredential, make_credential, token_expiry
from asr_audit.errors import AuthError


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.signature"


def test_expiry_comes_from_the_jwt_exp_claim() -> None:
    assert token_expiry(jwt({"exp": 1_900_000_000, "aud": "https://management.azure.com"})) == 1_900_000_000


@pytest.mark.parametrize(
    "token",
    [
        "opaque-token",
        "a.b.c",
        jwt({"aud": "no exp"}),
        jwt({"exp": "tomorrow"}),
        jwt({"exp": True}),
        "x.!!!.y",
    ],
)
def test_unreadable_expiry_defaults_to_an_hour(token: str) -> None:
    assert token_expiry(token, now=1000.0) == 4600


def test_static_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    token = jwt({"exp": 1_900_000_000})
    monkeypatch.setenv(TOKEN_ENV, f"  {token}\n")
    credential = make_credential(CLOUDS["AzureCloud"])
    assert isinstance(credential, StaticTokenCredential)
    access = credential.get_token("https://management.azure.com/.default")
    assert (access.token, access.expires_on) == (token, 1_900_000_000)


def test_static_token_is_never_shown() -> None:
    credential = StaticTokenCredential("secret-token-value")
    assert "secret-token-value" not in repr(credential) and "secret-token-value" not in str(credential)
    assert credential.get_token("scope").expires_on > time.time()


class FakeDefaultCredential:
    instances: list[FakeDefaultCredential] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.closed = False
        FakeDefaultCredential.instances.append(self)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise CredentialUnavailableError(
            "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
            "Attempted credentials:\n\tEnvironmentCredential: incomplete\n\tAzureCliCredential: not logged in"
        )

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def default_credential(monkeypatch: pytest.MonkeyPatch) -> type[FakeDefaultCredential]:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    FakeDefaultCredential.instances = []
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", FakeDefaultCredential)
    return FakeDefaultCredential


def test_default_credential_uses_the_cloud_authority(default_credential: type[FakeDefaultCredential]) -> None:
    credential = make_credential(CLOUDS["AzureChinaCloud"])
    (inner,) = default_credential.instances
    assert inner.kwargs == {"authority": "https://login.chinacloudapi.cn"}
    credential.close()  # type: ignore[attr-defined]
    assert inner.closed


def test_empty_token_variable_falls_back_to_the_default_credential(
    default_credential: type[FakeDefaultCredential], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "  ")
    assert not isinstance(make_credential(CLOUDS["AzureCloud"]), StaticTokenCredential)
    assert len(default_credential.instances) == 1


def test_credential_failure_is_a_one_line_auth_error(default_credential: type[FakeDefaultCredential]) -> None:
    credential = make_credential(CLOUDS["AzureCloud"])
    with pytest.raises(AuthError) as error:
        credential.get_token("https://management.azure.com/.default")
    message = str(error.value)
    assert "\n" not in message
    assert "DefaultAzureCredential failed to retrieve a token from the included credentials." in message
    assert TOKEN_ENV in message and "az login" in message
