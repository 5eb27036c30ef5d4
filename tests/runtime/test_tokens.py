"""`shopnet token`: tokens signed with the stack's key, printed alone (shopnet.runtime.tokens)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shopnet.cli import main
from shopnet.common import identity
from shopnet.runtime import tokens
from shopnet.runtime.secrets import RUNTIME, SecretStore
from shopnet.spec import BUILTIN


def test_the_key_is_made_once_private_and_copied_only_to_verifiers(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    with pytest.raises(Exception, match="no token key yet"):
        tokens.token(store)
    key = tokens.key_text(store)
    assert tokens.key_text(store) == key and len(bytes.fromhex(key)) == 32
    assert stat.S_IMODE(store.path(RUNTIME, tokens.KEY).stat().st_mode) == 0o600
    assert [name for name, spec in BUILTIN.items() if spec.verifies_tokens] == ["gateway"]
    copy = tokens.key_copy(store, "gateway")
    assert copy.read_text().strip() == key
    admin = identity.verify(bytes.fromhex(key), tokens.token(store))
    alice = identity.verify(bytes.fromhex(key), tokens.token(store, customer="alice"))
    assert (admin.admin, alice.customer) == (True, "alice")


def test_the_command_prints_the_token_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "local" / "data" / "secrets"
    tokens.key_text(SecretStore(layout))
    argv = ["--state-dir", str(tmp_path), "token", "--mode", "local"]
    assert main([*argv, "--customer", "c-42"]) == 0
    printed = capsys.readouterr().out
    key = bytes.fromhex(tokens.key_text(SecretStore(layout)))
    assert identity.verify(key, printed.strip()).customer == "c-42"
    assert printed.count("\n") == 1
    assert main([*argv, "--customer", "not a name"]) != 0
    assert "must match" in capsys.readouterr().err
