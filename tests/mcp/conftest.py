"""Fixtures for the MCP server tests: the server driven in-process by the SDK's own client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("mcp")

from anyio.from_thread import BlockingPortal, start_blocking_portal  # noqa: E402
from mcp import Client  # noqa: E402

from captionkit.mcp import ServerConfig, build_server  # noqa: E402

KEY_VARS = ("IDEOGRAM_API_KEY", "MAGIC_PROMPT_API_KEY", "OPENROUTER_API_KEY", "CAPTIONKIT_OPENAI_COMPAT_API_KEY")


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real key from the environment."""
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


class Session:
    """A connected ``mcp.Client`` used from synchronous tests (and hypothesis) through a portal."""

    def __init__(self, portal: BlockingPortal, client: Client) -> None:
        self.portal = portal
        self.client = client

    def call(self, tool: str, arguments: dict[str, Any] | None = None) -> Any:
        return self.portal.call(self.client.call_tool, tool, arguments or {})

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        return lambda *args, **kwargs: self.portal.call(lambda: method(*args, **kwargs))


def connect(config: ServerConfig | None = None) -> Iterator[Session]:
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(Client(build_server(config))) as client:
            yield Session(portal, client)


@pytest.fixture(scope="module")
def mcp_session() -> Iterator[Session]:
    """One server and one client for a whole module (tools hold no state between calls)."""
    yield from connect()


def error_text(result: Any) -> str:
    """The one text block of an error result."""
    assert result.is_error, result.structured_content
    assert len(result.content) == 1
    return result.content[0].text
