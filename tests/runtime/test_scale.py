from __future__ import annotations

import pytest

from shopnet.errors import ConfigError
from shopnet.runtime.scale import parse_scale
from shopnet.topology import default_topology


def test_scale_parses() -> None:
    assert parse_scale(["product=3", "order=2"], default_topology()) == {"product": 3, "order": 2}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("product=0", "1 to 10"),
        ("product=-1", "1 to 10"),
        ("product=11", "1 to 10"),
        ("product", "SERVICE=N"),
        ("product=three", "SERVICE=N"),
        ("cart=2", "unknown service 'cart'"),
        ("gateway=2", "exactly one instance"),
        ("postgres=2", "exactly one instance"),
    ],
)
def test_bad_scale_is_a_clear_error(option: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scale([option], default_topology())
