"""HTTP handlers of the registry (the API is listed in shopnet.common.registry_client)."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from aiohttp import web

from shopnet.common.http import BadRequest, Conflict, NotFound, json_response
from shopnet.common.registry_client import INDEX_HEADER
from shopnet.common.validation import decode_body
from shopnet.registry.admission import (
    Admission,
    Forbidden,
    InsufficientStorage,
    new_secret,
    presented_owner,
)
from shopnet.registry.config import RegistryConfig
from shopnet.registry.store import CatalogFull, NotOwner, Registration, Store
from shopnet.registry.watches import WatchCounts

STORE = web.AppKey("store", Store)
REGISTRY_CONFIG = web.AppKey("registry_config", RegistryConfig)
ADMISSION = web.AppKey("admission", Admission)
WATCHES = web.AppKey("watches", WatchCounts)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")  # \Z: `$` would allow a trailing newline

Name = Annotated[str, msgspec.Meta(pattern=_NAME.pattern)]
_PRINTABLE = r"^[\x20-\x7e]*\Z"  # no control characters (CR/LF) in anything echoed back


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True):
    service: Name
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]
    tags: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=64, pattern=_PRINTABLE)]],
        msgspec.Meta(max_length=32),
    ] = []
    meta: Annotated[
        dict[Name, Annotated[str, msgspec.Meta(max_length=256, pattern=_PRINTABLE)]],
        msgspec.Meta(max_length=32),
    ] = {}
    ttl_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    deregister_after_seconds: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 60.0


def _name(request: web.Request, key: str) -> str:
    value = request.match_info[key]
    if not _NAME.match(value):
        raise BadRequest(f"{key} must match {_NAME.pattern}", code="validation_failed")
    return value


async def register(request: web.Request) -> web.Response:
    admission = request.app[ADMISSION]
    bound = admission.require_token(request)
    instance_id = _name(request, "id")
    body = await decode_body(request, RegisterBody)
    admission.check_service(bound, body.service)
    admission.check_service(bound, request.app[STORE].service_of(instance_id))
    admission.check_address(body.service, body.address, request.remote)
    owner = presented_owner(request)
    secret = None
    if not owner:
        secret, owner = new_secret()
    registration = Registration(
        id=instance_id,
        service=body.service,
        address=body.address,
        port=body.port,
        tags=tuple(body.tags),
        meta=tuple(sorted(body.meta.items())),
        ttl=body.ttl_seconds,
        deregister_after=body.deregister_after_seconds,
    )
    try:
        changed = request.app[STORE].register(registration, owner=owner)
    except NotOwner:
        raise Conflict(
            f"instance {instance_id!r} is held by another registration while it is passing"
        ) from None
    except CatalogFull as exc:
        raise InsufficientStorage(str(exc)) from None
    answer = {"id": instance_id, "status": "passing", "changed": changed}
    if secret is not None:
        answer["secret"] = secret  # the caller's proof of ownership; we keep only its digest
    return json_response(answer)


async def heartbeat(request: web.Request) -> web.Response:
    admission = request.app[ADMISSION]
    bound = admission.require_token(request)
    instance_id = _name(request, "id")
    admission.check_service(bound, request.app[STORE].service_of(instance_id))
    try:
        known = request.app[STORE].heartbeat(instance_id, owner=presented_owner(request))
    except NotOwner:
        raise Forbidden(f"instance {instance_id!r} belongs to another registration") from None
    if not known:
        raise NotFound(f"instance {instance_id!r} is not registered; register it again")
    return json_response({"id": instance_id, "status": "passing"})


async def deregister(request: web.Request) -> web.Response:
    admission = request.app[ADMISSION]
    bound = admission.require_token(request)
    instance_id = _name(request, "id")
    admission.check_service(bound, request.app[STORE].service_of(instance_id))
    try:
        existed = request.app[STORE].deregister(instance_id, owner=presented_owner(request))
    except NotOwner:
        raise Forbidden(f"instance {instance_id!r} belongs to another registration") from None
    return json_response({"id": instance_id, "deregistered": existed})


async def service_instances(request: web.Request) -> web.Response:
    """Passing instances of one service; `?index=N&wait=S` blocks until the index passes N."""
    store = request.app[STORE]
    service = _name(request, "service")
    index = _float_param(request, "index", 0)
    if index > 0:
        wait = min(
            _float_param(request, "wait", 30.0), request.app[REGISTRY_CONFIG].max_wait_seconds
        )
        try:
            with request.app[WATCHES].held(request.remote or ""):
                await store.wait(service, int(index), wait)
        except CatalogFull as exc:
            raise InsufficientStorage(str(exc)) from None
    current = store.index(service)
    instances = [
        {
            "id": r.id,
            "address": r.address,
            "port": r.port,
            "tags": list(r.tags),
            "meta": dict(r.meta),
        }
        for r in store.passing(service)
    ]
    return json_response(
        {"service": service, "index": current, "instances": instances},
        headers={INDEX_HEADER: str(current)},
    )


async def catalog(request: web.Request) -> web.Response:
    return json_response({"services": request.app[STORE].catalog()})


async def all_instances(request: web.Request) -> web.Response:
    return json_response({"instances": request.app[STORE].instances()})


async def one_instance(request: web.Request) -> web.Response:
    instance_id = _name(request, "id")
    for entry in request.app[STORE].instances():
        if entry["id"] == instance_id:
            return json_response(entry)
    raise NotFound(f"instance {instance_id!r} is not registered")


def _float_param(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw.removesuffix("s"))
    except ValueError:
        raise BadRequest(
            f"query parameter {name!r} must be a number", code="validation_failed"
        ) from None
    if not 0 <= value < 2**53:
        raise BadRequest(f"query parameter {name!r} is out of range", code="validation_failed")
    return value
