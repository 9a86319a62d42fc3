"""Fixtures for the connected-flow tests: a loopback magic-prompt server and the CLI runner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from captionkit.magic.testing import FakeMagicServer


@pytest.fixture
def server() -> Iterator[FakeMagicServer]:
    with FakeMagicServer() as srv:
        yield srv


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()
