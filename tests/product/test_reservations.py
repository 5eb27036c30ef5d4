"""The internal reservation API: idempotent by reservation id, all-or-nothing, tombstones,
the optional service token, and no public route to it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiohttp.test_utils import TestClient

from shopnet.common.bindings import binding_line
from shopnet.errors import ConfigError
from shopnet.product.app import create_app
from tests.product.conftest import MakeConfig
from tests.product.helpers import expect_error
from tests.support.waiting import until


def lines(*pairs: tuple[int, int]) -> dict:
    return {"items": [{"product_id": p, "quantity": q} for p, q in pairs]}


async def stock(client: TestClient, product_id: int) -> int:
    return (await (await client.get(f"/products/{product_id}")).json())["stock"]


async def test_reserve_is_idempotent_and_release_gives_back_once(seeded: TestClient) -> None:
    rid = str(uuid.uuid4())
    s1, s2 = await stock(seeded, 1), await stock(seeded, 2)
    first = await seeded.put(f"/internal/reservations/{rid}", json=lines((2, 1), (1, 2)))
    assert first.status == 201, await first.text()
    body = await first.json()
    assert body["state"] == "held"
    assert [(i["product_id"], i["quantity"]) for i in body["items"]] == [(1, 2), (2, 1)]
    again = await seeded.put(f"/internal/reservations/{rid}", json=lines((1, 2), (2, 1)))
    assert again.status == 200 and (await again.json())["items"] == body["items"]
    assert (await stock(seeded, 1), await stock(seeded, 2)) == (s1 - 2, s2 - 1)
    other = await seeded.put(f"/internal/reservations/{rid}", json=lines((1, 1)))
    await expect_error(other, 409, "reservation_mismatch")
    for _ in range(2):
        resp = await seeded.delete(f"/internal/reservations/{rid}")
        assert resp.status == 200 and (await resp.json())["state"] == "released"
        assert (await stock(seeded, 1), await stock(seeded, 2)) == (s1, s2)
    late = await seeded.put(f"/internal/reservations/{rid}", json=lines((1, 2), (2, 1)))
    await expect_error(late, 409, "reservation_released")


async def test_a_release_before_the_reserve_leaves_a_tombstone(seeded: TestClient) -> None:
    rid = str(uuid.uuid4())
    s1 = await stock(seeded, 1)
    assert (await seeded.delete(f"/internal/reservations/{rid}")).status == 200
    late = await seeded.put(f"/internal/reservations/{rid}", json=lines((1, 1)))
    await expect_error(late, 409, "reservation_released")
    assert await stock(seeded, 1) == s1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/internal/reservations/not-a-uuid", lines((1, 1))),
        (f"/internal/reservations/{str(uuid.uuid4()).upper()}", lines((1, 1))),
        (f"/internal/reservations/{uuid.uuid4()}", lines((1, 0))),
        (f"/internal/reservations/{uuid.uuid4()}", lines((1, 1), (1, 1))),
        (f"/internal/reservations/{uuid.uuid4()}", {"items": []}),
        (f"/internal/reservations/{uuid.uuid4()}", {"items": [], "x": 1}),
    ],
    # Named, not by their random ids: pytest-xdist's workers must collect the same tests.
    ids=[
        "not-a-uuid",
        "upper-case",
        "zero-quantity",
        "same-product-twice",
        "no-items",
        "extra-field",
    ],
)
async def test_bad_reservations_are_400(seeded: TestClient, path: str, body: dict) -> None:
    await expect_error(await seeded.put(path, json=body), 400, "validation_failed")


async def test_the_token_is_required_when_configured(
    product_config: MakeConfig, aiohttp_client, tmp_path
) -> None:
    # The product knows the digest of each caller's token (shopnet.common.internal).
    token_file = tmp_path / "internal-callers"
    token_file.write_text(binding_line("order", "s3cret-token-0123456789"))
    token_file.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        create_app(product_config(internal_callers_file=str(token_file)))
    token_file.chmod(0o600)
    assert "s3cret" not in token_file.read_text()
    client = await aiohttp_client(
        create_app(product_config(seed_products=3, internal_callers_file=str(token_file)))
    )
    path = f"/internal/reservations/{uuid.uuid4()}"
    await expect_error(await client.put(path, json=lines((1, 1))), 401, "unauthorized")
    wrong = {"Authorization": "Bearer nope"}
    await expect_error(await client.put(path, json=lines((1, 1)), headers=wrong), 401)
    right = {"Authorization": "Bearer s3cret-token-0123456789"}
    assert (await client.put(path, json=lines((1, 1)), headers=right)).status == 201
    assert (await client.delete(path, headers=right)).status == 200


async def test_an_unconfirmed_reservation_expires_and_a_confirmed_one_stays(
    product_config: MakeConfig, aiohttp_client
) -> None:
    """A caller that reserves and vanishes no longer holds stock for good: unconfirmed,
    the reservation expires and its stock goes back; confirmed (its order stored), it stays
    until released."""
    cfg = product_config(
        seed_products=5, reservation_hold_seconds=0.5, reservation_sweep_seconds=0.1
    )
    client = await aiohttp_client(create_app(cfg))
    s1 = await stock(client, 1)
    vanished, kept = str(uuid.uuid4()), str(uuid.uuid4())
    assert (
        await client.put(f"/internal/reservations/{vanished}", json=lines((1, 2)))
    ).status == 201
    assert (await client.put(f"/internal/reservations/{kept}", json=lines((1, 3)))).status == 201
    for _ in range(2):  # idempotent
        confirmed = await client.post(f"/internal/reservations/{kept}/confirm")
        assert confirmed.status == 200 and (await confirmed.json())["state"] == "confirmed"
    assert await stock(client, 1) == s1 - 5

    async def given_back() -> bool:
        return await stock(client, 1) == s1 - 3

    await until(given_back, timeout=5)
    late = await client.post(f"/internal/reservations/{vanished}/confirm")
    await expect_error(late, 409, "reservation_released")
    await expect_error(
        await client.post(f"/internal/reservations/{uuid.uuid4()}/confirm"), 404, "not_found"
    )
    # A retried reserve of the confirmed one answers its lines; a release still gives back.
    again = await client.put(f"/internal/reservations/{kept}", json=lines((1, 3)))
    assert again.status == 200
    await asyncio.sleep(0.7)  # past its hold time: confirmed, so it does not expire
    assert await stock(client, 1) == s1 - 3
    assert (await client.delete(f"/internal/reservations/{kept}")).status == 200
    assert await stock(client, 1) == s1
