"""Load a topology file (TOML) into the model, and refuse one that cannot work.

Validation happens here, once, so every runtime can trust the model: names fit
Linux's 15-character interface limit, subnets do not overlap, every instance
address (at full scale) is inside its tier's static half and unique, flows name
real services, and dependencies have no cycle.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib import resources
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from shopnet.errors import ConfigError
from shopnet.topology.model import (
    WORLD,
    Datastore,
    Durability,
    Engine,
    Flow,
    Kind,
    Service,
    StoreUse,
    Tier,
    Topology,
    Wiring,
)
from shopnet.topology.modes import MODES

IFNAMSIZ = 15  # Linux interface names: 15 characters plus the terminating NUL


def default_topology() -> Topology:
    text = resources.files("shopnet.topology").joinpath("default.toml").read_text()
    return parse(tomllib.loads(text), source="default topology")


def load(path: Path | None = None) -> Topology:
    """The topology in `path`, or the default one."""
    if path is None:
        return default_topology()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read topology {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"topology {path} is not valid TOML: {exc}") from None
    return parse(data, source=str(path), base=path.resolve().parent)


def parse(data: dict[str, Any], *, source: str, base: Path | None = None) -> Topology:
    """The topology in `data`; a service's `code` is relative to `base` (the file's folder)."""
    try:
        tiers = tuple(
            Tier(
                name=name,
                bridge=t["bridge"],
                subnet=IPv4Network(t["subnet"]),
                internal=bool(t.get("internal", False)),
            )
            for name, t in data["tiers"].items()
        )
        services = tuple(
            Service(
                name=name,
                tier=s["tier"],
                port=int(s["port"]),
                host=int(s["host"]),
                kind=Kind(s.get("kind", "app")),
                max_instances=int(s.get("max_instances", 1)),
                cpus=float(s.get("cpus", 1.0)),
                memory_mb=int(s.get("memory_mb", 256)),
                depends_on=tuple(s.get("depends_on", ())),
                datastore=_datastore(s),
                uses=tuple(
                    StoreUse(
                        datastore=u["datastore"],
                        schema=u.get("schema"),
                        db=int(u.get("db", 0)),
                        key_prefix=u.get("key_prefix"),
                    )
                    for u in s.get("uses", ())
                ),
                admin_port=int(s.get("admin_port", 0)),
                spec=str(s.get("spec", "")),
                code=_code_dir(s.get("code", ""), base),
            )
            for name, s in data["services"].items()
        )
        flows = tuple(
            Flow(
                source=f["from"],
                target=f["to"],
                port=int(f.get("port", _port_of(services, f["to"]))),
            )
            for f in data.get("flows", ())
        )
        topology = Topology(
            prefix=str(data.get("prefix", "shopnet")),
            published_port=int(data.get("published_port", 8080)),
            tiers=tiers,
            services=services,
            flows=flows,
            **_wirings(data),
            placement=tuple((str(k), int(v)) for k, v in data.get("placement", {}).items()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: malformed topology ({type(exc).__name__}: {exc})") from None
    validate(topology, source=source)
    return topology


def _wirings(data: dict[str, Any]) -> dict[str, Any]:
    """`[wirings]` (mode → list, default first) and `[single_network]`; absent: the defaults."""
    found: dict[str, Any] = {}
    if "wirings" in data:
        found["wirings"] = tuple(
            (mode, tuple(Wiring(w) for w in listed)) for mode, listed in data["wirings"].items()
        )
    if (single := data.get("single_network")) is not None:
        found["single_network"] = Tier(
            name=single["name"], bridge="", subnet=IPv4Network(single["subnet"])
        )
    return found


def _code_dir(code: str, base: Path | None) -> str:
    if not code:
        return ""
    return str(((base or Path.cwd()) / code).resolve())


def _datastore(spec: dict[str, Any]) -> Datastore | None:
    if Kind(spec.get("kind", "app")) is not Kind.DATASTORE:
        return None
    return Datastore(engine=Engine(spec["engine"]), durability=Durability(spec["durability"]))


def _port_of(services: tuple[Service, ...], name: str) -> int:
    for service in services:
        if service.name == name:
            return service.port
    raise KeyError(f"flow to unknown service {name!r}")


def validate(topology: Topology, *, source: str = "topology") -> None:
    def fail(message: str) -> None:
        raise ConfigError(f"{source}: {message}")

    names = {t.name for t in topology.tiers}
    for tier in topology.tiers:
        if len(tier.bridge) > IFNAMSIZ:
            fail(f"bridge name {tier.bridge!r} is longer than {IFNAMSIZ} characters")
        if tier.subnet.prefixlen > 24:
            fail(f"tier {tier.name}: subnet {tier.subnet} is smaller than a /24")
    for i, a in enumerate(topology.tiers):
        for b in topology.tiers[i + 1 :]:
            if a.subnet.overlaps(b.subnet):
                fail(f"subnets of {a.name} ({a.subnet}) and {b.name} ({b.subnet}) overlap")

    services = {s.name for s in topology.services}
    taken: dict[object, str] = {}
    for service in topology.services:
        if service.tier not in names:
            fail(f"service {service.name}: unknown tier {service.tier!r}")
        if not service.name.isidentifier() or len(service.name) > 10:
            fail(
                f"service name {service.name!r} must be a short identifier (at most 10 characters)"
            )
        if not 0 < service.port < 65536:
            fail(f"service {service.name}: port {service.port} is not a TCP port")
        if not 0 <= service.admin_port < 65536 or service.admin_port == service.port:
            fail(f"service {service.name}: admin_port {service.admin_port} is not another port")
        if service.max_instances < 1:
            fail(f"service {service.name}: max_instances must be at least 1")
        if service.kind == Kind.DATASTORE and service.max_instances != 1:
            fail(f"service {service.name}: a datastore cannot be scaled")
        for dep in service.depends_on:
            if dep not in services:
                fail(f"service {service.name} depends on unknown service {dep!r}")
        tier = topology.tier(service.tier)
        for index in range(service.max_instances):
            address = tier.subnet.network_address + service.host + index
            if address <= tier.host_address or address >= tier.dynamic_range.network_address:
                first, last = tier.host_address + 1, tier.dynamic_range.network_address - 1
                fail(
                    f"service {service.name}: address {address} is outside the static range "
                    f"of {tier.name} ({first} up to {last})"
                )
            if address in taken:
                fail(f"services {taken[address]} and {service.name} both use {address}")
            taken[address] = service.name

    _validate_uses(topology, fail)
    _validate_wirings(topology, fail)
    for instance, host in topology.placement:
        name, _, number = instance.rpartition("-")
        if name not in services or not number.isdigit() or int(number) < 1:
            fail(f"placement: {instance!r} is not an instance (service-N) of this topology")
        if host < 1:
            fail(f"placement: {instance} on host {host}; hosts are numbered from 1")
    for flow in topology.flows:
        if flow.source != WORLD and flow.source not in services:
            fail(f"flow from unknown service {flow.source!r}")
        if flow.target not in services:
            fail(f"flow to unknown service {flow.target!r}")
    try:
        topology.start_order()
    except ValueError:
        fail("service dependencies form a cycle")


def _validate_uses(topology: Topology, fail: Callable[[str], None]) -> None:
    """Each use names a datastore the service may reach, with the part it owns."""
    owned: dict[tuple[str, tuple[str, ...]], str] = {}
    for service in topology.services:
        engines = []
        for use in service.uses:
            what = f"service {service.name} uses {use.datastore!r}"
            try:
                store = topology.service(use.datastore)
            except KeyError:
                fail(f"{what}: no such service")
                continue
            if store.datastore is None:
                fail(f"{what}: not a datastore")
                continue
            if not any(f.source == service.name and f.target == store.name for f in topology.flows):
                fail(f"{what}, but no flow allows {service.name} → {store.name}")
            engine = store.datastore.engine
            if engine in engines:
                fail(f"service {service.name} uses two {engine} datastores")
            engines.append(engine)
            if engine is Engine.POSTGRES:
                if not use.schema or not use.schema.isidentifier():
                    fail(f"{what}: a PostgreSQL use needs its schema (an identifier)")
                part: tuple[str, ...] = ("schema", str(use.schema))
            else:
                if not 0 <= use.db < 16:
                    fail(f"{what}: Redis database {use.db} is not 0 to 15")
                if store.datastore.durability is Durability.CACHE and not use.key_prefix:
                    fail(f"{what}: a cache use needs its key_prefix (a flush removes only those)")
                part = ("keys", str(use.db), use.key_prefix or "")
            for (name, other), owner in owned.items():
                if name == store.name and owner != service.name and _overlap(part, other):
                    fail(
                        f"services {owner} and {service.name} both own {_describe(store.name, part)}"
                    )
            owned[(store.name, part)] = service.name


def _validate_wirings(topology: Topology, fail: Callable[[str], None]) -> None:
    """Each mode's wirings are ones it can build; `single` has its network, apart from the tiers."""
    choosing = [m.name for m in MODES.values() if m.wirings]
    for mode, wirings in topology.wirings:
        known = MODES[mode].wirings if mode in MODES else ()
        if not known:
            fail(
                f"wirings: mode {mode!r} has no wirings (modes with a choice: {', '.join(choosing)})"
            )
            continue
        if not wirings or len(set(wirings)) != len(wirings):
            fail(f"wirings: {mode} needs at least one wiring, each listed once")
        for wiring in wirings:
            if wiring not in known:
                fail(f"wirings: {mode} cannot use {wiring.value!r} (it knows {', '.join(known)})")
    single = topology.single_network
    if Wiring.SINGLE in topology.wirings_for("docker") and single is None:
        fail("wirings: docker lists `single` but there is no [single_network]")
    if single is not None:
        if single.subnet.prefixlen > 24:
            fail(f"single_network: subnet {single.subnet} is smaller than a /24")
        for tier in topology.tiers:
            if tier.subnet.overlaps(single.subnet):
                fail(f"single_network {single.subnet} overlaps tier {tier.name} ({tier.subnet})")


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Two owned parts of one datastore collide: the same schema, or, in one Redis
    database, key prefixes where one starts with the other."""
    if a[0] == "keys" and b[0] == "keys":
        return a[1] == b[1] and (a[2].startswith(b[2]) or b[2].startswith(a[2]))
    return a == b


def _describe(store: str, part: tuple[str, ...]) -> str:
    if part[0] == "schema":
        return f"schema {part[1]} of {store}"
    return f"the keys {part[2]!r}… of {store} database {part[1]}"
