"""An MCP server for Ideogram 4 captions (the ``mcp`` extra): ``captionkit mcp``.

Agents get tools to create, verify, fix, format, preview and count captions, to expand an
idea or describe an image into a verified caption, and (with the render extra and a model
configured) to render one; resources with the JSON Schema, the rule catalogue and example
captions; and a ``caption_rules`` prompt that teaches the caption contract.

>>> from captionkit.mcp import build_server
>>> server = build_server()
>>> server.name
'captionkit'
"""

from __future__ import annotations

from captionkit.mcp._server import ServerConfig, build_server, example_captions

__all__ = ["ServerConfig", "build_server", "example_captions"]
