"""The gateway's token check remembers what it accepted, and nothing longer than it may."""

from __future__ import annotations

import time

import pytest

from shopnet.common import identity

KEY = identity.new_key()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the verifier checked in full (PyJWT), in order."""
    seen: list[str] = []
    decode = identity._decode

    def counting(key: bytes, token: str) -> tuple[identity.Principal, float]:
        seen.append(token)
        return decode(key, token)

    monkeypatch.setattr(identity, "_decode", counting)
    return seen


def test_an_accepted_token_is_checked_once_until_it_expires(decodes: list[str]) -> None:
    now = [time.time()]
    verify = identity.Verifier(KEY, clock=lambda: now[0])
    token = identity.issue(KEY, customer="alice", ttl_seconds=60)
    assert verify(token) == identity.Principal(identity.CUSTOMER, "alice")
    assert verify(token) == identity.Principal(identity.CUSTOMER, "alice")
    assert decodes == [token]
    now[0] += 60 + identity.LEEWAY_SECONDS  # past exp and its leeway: checked in full again
    verify(token)
    assert decodes.count(token) == 2


def test_a_rejected_token_is_never_remembered(decodes: list[str]) -> None:
    verify = identity.Verifier(KEY)
    forged = identity.issue(identity.new_key())  # another key's signature
    for _ in range(3):
        with pytest.raises(identity.InvalidToken, match="Signature"):
            verify(forged)
    assert decodes == [forged] * 3


def test_the_memory_is_bounded_and_forgets_the_oldest(decodes: list[str]) -> None:
    verify = identity.Verifier(KEY, size=2)
    first, second, third = (identity.issue(KEY, customer=f"c{i}") for i in range(3))
    for token in (first, second, third, third, second, first):
        verify(token)
    assert decodes == [first, second, third, first]
