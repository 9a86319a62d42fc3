"""`captionkit mcp` as a real subprocess, spoken to over stdio by the SDK's client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_stdio_server_lists_tools_and_answers_calls(tmp_path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "captionkit", "mcp"], env=_environment(), cwd=str(tmp_path)
    )
    errlog = (tmp_path / "stderr.txt").open("w")

    async def main() -> tuple[set[str], dict, str, str]:
        with anyio.fail_after(120):
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = {t.name for t in (await session.list_tools()).tools}
                    ok = await session.call_tool(
                        "verify", {"caption": '{"compositional_deconstruction":{"background":"b","elements":[]}}'}
                    )
                    bad = await session.call_tool("fix", {"caption": "no json"})
                    prompt = await session.get_prompt("caption_rules")
                    return tools, ok.structured_content, bad.content[0].text, prompt.messages[0].content.text

    tools, ok, bad, prompt = anyio.run(main)
    errlog.close()
    assert {"new_caption", "verify", "fix", "format", "preview", "tokens", "expand", "describe"} <= tools
    assert ok["ok"] is True and [d["code"] for d in ok["diagnostics"]] == ["CK406"]
    assert bad == "fix: no JSON object found in the caption text"
    assert "compositional_deconstruction" in prompt


def test_mcp_command_rejects_bad_options_in_one_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "captionkit", "mcp", "--backend", "gpt-9"],
        capture_output=True, text=True, env=_environment(), timeout=120, stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: --backend: unknown backend 'gpt-9' (choose one of: ideogram-4-v1, claude-opus-v1, "
        "claude-sonnet-v1, openai-compatible, local)"
    ]
