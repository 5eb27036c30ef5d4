"""Idempotency-Key for `POST /orders`, after draft-ietf-httpapi-idempotency-key-header.

- The field is an RFC 8941 sf-string (`Idempotency-Key: "8e03978e-…"`); a bare token of
  the same characters is accepted too, as many clients send one. 1-255 characters.
- Keys are scoped to the client — the order's customer — so two customers never collide,
  and stored as (customer_id, key) with the SHA-256 fingerprint of the request.
- The first request claims the key (an INSERT … ON CONFLICT, decided by PostgreSQL). While
  it runs, a duplicate gets 409 `idempotency_key_in_flight`; with another request, 422
  `idempotency_key_reused` naming nothing about the first; after it stored its order, a
  duplicate gets the stored status (201) and body again, with `Idempotent-Replayed: true`.
- A request that fails stores nothing (its claim is dropped once its stock is released),
  so the client may retry it with the same key, as Stripe does.
- Keys expire `SHOPNET_IDEMPOTENCY_TTL_SECONDS` after they were claimed (default 24 h);
  after that the key may be used for a new order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from multidict import MultiMapping

from shopnet.common.http import BadRequest, Conflict, Unprocessable
from shopnet.order.db import OrderStore

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"  # Stripe's name; the draft defines none
MAX_KEY_LENGTH = 255
_CLAIM_TRIES = 3


def parse_key(headers: MultiMapping[str]) -> str | None:
    """The key of the Idempotency-Key field (None when absent); 400 when malformed."""
    values = headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) > 1:
        raise _invalid("send one Idempotency-Key field")
    raw = values[0].strip(" \t")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        key = _unquote(raw[1:-1])
    elif raw.isascii() and raw.isprintable() and '"' not in raw and "\\" not in raw:
        key = raw
    else:
        key = None
    if key is None or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise _invalid(
            f"Idempotency-Key must be a quoted string of 1-{MAX_KEY_LENGTH} printable ASCII "
            'characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"'
        )
    return key


def _unquote(inner: str) -> str | None:
    """The content of an sf-string (RFC 8941 §3.3.3), or None when it is not one."""
    out, escaped = [], False
    for ch in inner:
        if not (ch.isascii() and ch.isprintable()):
            return None
        if escaped:
            if ch not in '"\\':
                return None
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            return None
        else:
            out.append(ch)
    return None if escaped else "".join(out)


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="validation_failed")


@dataclass(frozen=True, slots=True)
class Stored:
    """The outcome stored for a key: replay it."""

    order_id: uuid.UUID
    status: int
    body: bytes


async def claim(
    store: OrderStore,
    *,
    customer_id: str,
    key: str,
    fingerprint: str,
    order_id: uuid.UUID,
    ttl_seconds: float,
    hold_seconds: float,
) -> Stored | None:
    """Claim (customer_id, key) for `order_id` and write the order's hold with it: None when
    claimed; the stored outcome to replay; 409 while another request holds it, 422 when it
    was used for another request. Claim and hold commit together, so recovery, which drops
    an unfinished order's key with its hold, never leaves a key in flight for good."""
    for _ in range(_CLAIM_TRIES):
        async with store.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO orders.idempotency_keys AS k "
                "(customer_id, key, fingerprint, order_id, expires_at) "
                "VALUES ($1, $2, $3, $4, now() + $5 * interval '1 second') "
                "ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
                "order_id = EXCLUDED.order_id, status = NULL, body = NULL, created_at = now(), "
                "expires_at = EXCLUDED.expires_at "
                "WHERE k.expires_at <= now() AND k.status IS NOT NULL RETURNING true",
                customer_id,
                key,
                fingerprint,
                order_id,
                ttl_seconds,
            )
            if claimed:
                await store.hold(order_id, seconds=hold_seconds, conn=conn)
                return None
            row = await conn.fetchrow(
                "SELECT fingerprint, order_id, status, body FROM orders.idempotency_keys "
                "WHERE customer_id = $1 AND key = $2",
                customer_id,
                key,
            )
        if row is None:
            continue  # the holder failed and let go in between: claim again
        if row["fingerprint"] != fingerprint:
            raise Unprocessable(
                "this Idempotency-Key was already used for a different request",
                code="idempotency_key_reused",
            )
        if row["status"] is None:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress; retry later",
                code="idempotency_key_in_flight",
                headers={"Retry-After": "1"},
            )
        return Stored(row["order_id"], row["status"], bytes(row["body"]))
    raise Conflict(
        "a request with this Idempotency-Key is still in progress; retry later",
        code="idempotency_key_in_flight",
        headers={"Retry-After": "1"},
    )
