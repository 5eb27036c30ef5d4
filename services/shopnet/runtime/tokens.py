"""A stack's token signing key, and the admin and customer tokens `shopnet token` prints.

The key is made at the first `up` (32 random bytes, hex, 0600 in the runtime's own
secrets folder) and kept with the data, so tokens stay valid across restarts until
`down --volumes`. The gateway — the one service whose spec verifies tokens — gets a copy
in its own folder (or its container's secret); no other service sees it.
"""

from __future__ import annotations

from pathlib import Path

from shopnet.common import identity
from shopnet.errors import DriverError
from shopnet.runtime.secrets import RUNTIME, SecretStore
from shopnet.runtime.users import User

KEY = "token-key"


def key_text(store: SecretStore) -> str:
    """The stack's signing key (hex), made on first use."""
    path = store.path(RUNTIME, KEY)
    if path.exists():
        return path.read_text().strip()
    text = identity.new_key().hex()
    store.write(RUNTIME, KEY, text)
    return text


def key_copy(store: SecretStore, service: str, *, user: User | None = None) -> Path:
    """The key in `service`'s own folder: only for a verifier (ServiceSpec.verifies_tokens)."""
    return store.write(service, KEY, key_text(store), user=user)


def token(store: SecretStore, *, customer: str | None = None) -> str:
    """An admin token (no `customer`) or a customer's, signed with the stack's key."""
    path = store.path(RUNTIME, KEY)
    if not path.exists():
        raise DriverError("this stack has no token key yet: run `shopnet up` first")
    try:
        return identity.issue(identity.read_key(str(path)), customer=customer)
    except ValueError as exc:
        raise DriverError(str(exc)) from None


def admin_token_file(store: SecretStore) -> Path:
    """A fresh admin token in a 0600 file of the runtime's folder, for the tools that drive the
    stack (bench, chaos, dashboard): handed on as a path, never in argv."""
    return store.write(RUNTIME, "admin-token", token(store))


def admin_headers(store: SecretStore) -> dict[str, str]:
    """The Authorization field of a fresh admin token (for our own HTTP clients)."""
    return {"Authorization": f"Bearer {token(store)}"}
