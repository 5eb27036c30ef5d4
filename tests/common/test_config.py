"""Service configuration from the environment: parsing, defaults, overrides, refusals."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from shopnet.common.config import DatabaseConfig, ServiceConfig, require_positive, setting
from shopnet.errors import ConfigError


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig(ServiceConfig):
    service: ClassVar[str] = "demo"
    default_port: ClassVar[int] = 4321

    ratio: float = setting("DEMO_RATIO", 0.5, "A float.")
    name: str = setting("DEMO_NAME", "x", "A string.")


def test_defaults_and_the_services_own_port() -> None:
    cfg = DemoConfig.from_env({})
    assert cfg.port == 4321
    assert cfg.bind == "0.0.0.0"
    assert cfg.register is True
    assert cfg.instance_id.startswith("demo-") and cfg.instance_id.endswith("-4321")


def test_environment_is_parsed_by_type() -> None:
    cfg = DemoConfig.from_env(
        {
            "SHOPNET_PORT": "5000",
            "SHOPNET_REGISTER": "off",
            "SHOPNET_ACCESS_LOG": "Yes",
            "DEMO_RATIO": " 0.25 ",
            "DEMO_NAME": "hello",
            "SHOPNET_INSTANCE_ID": "demo-7",
        }
    )
    assert (cfg.port, cfg.register, cfg.access_log) == (5000, False, True)
    assert (cfg.ratio, cfg.name, cfg.instance_id) == (0.25, "hello", "demo-7")


def test_empty_values_keep_the_default_and_overrides_win() -> None:
    cfg = DemoConfig.from_env({"DEMO_NAME": "", "SHOPNET_PORT": "5000"}, port=6000)
    assert cfg.name == "x"
    assert cfg.port == 6000


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("SHOPNET_PORT", "http", "SHOPNET_PORT='http' is not a valid int"),
        ("SHOPNET_REGISTER", "maybe", "SHOPNET_REGISTER='maybe' is not a valid bool"),
        ("DEMO_RATIO", "half", "DEMO_RATIO='half' is not a valid float"),
        ("SHOPNET_PORT", "70000", "SHOPNET_PORT=70000 is not a TCP port"),
        ("SHOPNET_TTL_SECONDS", "0", "SHOPNET_TTL_SECONDS must be positive"),
    ],
)
def test_bad_values_are_one_line_config_errors(env: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DemoConfig.from_env({env: value})
    assert str(caught.value) == message


def test_documentation_lists_every_setting_with_its_default() -> None:
    rows = {env: (default, doc) for env, default, doc in DemoConfig.documentation()}
    assert rows["SHOPNET_PORT"][0] == "4321"  # the service's port, not the field's 0
    assert rows["DEMO_RATIO"] == ("0.5", "A float.")
    assert list(rows)[-2:] == ["DEMO_RATIO", "DEMO_NAME"]  # declaration order


def test_database_config_checks_its_pool_and_timeout() -> None:
    class Db(DatabaseConfig):
        default_port: ClassVar[int] = 1

    assert Db.from_env({}).db_pool_max == 10
    with pytest.raises(ConfigError, match="SHOPNET_DB_POOL_MIN <= SHOPNET_DB_POOL_MAX"):
        Db.from_env({"SHOPNET_DB_POOL_MIN": "5", "SHOPNET_DB_POOL_MAX": "2"})
    with pytest.raises(ConfigError, match="SHOPNET_DB_TIMEOUT_SECONDS must be positive"):
        Db.from_env({"SHOPNET_DB_TIMEOUT_SECONDS": "0"})


def test_require_positive_names_the_first_offender() -> None:
    require_positive(A=1, B=0.1)
    with pytest.raises(ConfigError, match=r"^B must be positive$"):
        require_positive(A=1, B=0, C=-1)
