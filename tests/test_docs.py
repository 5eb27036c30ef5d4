"""Documents generated from code must match the code: regenerate them when this fails."""

from __future__ import annotations

from pathlib import Path

from shopnet.docs import configuration_markdown

REPO = Path(__file__).resolve().parents[1]


def test_configuration_doc_is_current() -> None:
    checked_in = (REPO / "docs" / "configuration.md").read_text()
    assert checked_in == configuration_markdown(), (
        "docs/configuration.md is stale: run `shopnet config --markdown > docs/configuration.md`"
    )


def test_every_setting_in_the_doc_is_read_by_some_service() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    for env in ("SERVICE_REGISTRY", "DATABASE_URL", "REDIS_URL", "SHOPNET_PORT", "SHOPNET_BIND"):
        assert f"`{env}`" in text
