"""Magic-prompt client benchmark: overhead and batch throughput as ratios measured in one run.

1. Per-call overhead: ``MagicPromptClient.expand`` (request building with the packaged system
   prompt, the response parse, extraction, fixes, verification, the result) against a raw
   ``httpx.Client.post`` of the same body to the same loopback server, both sequential.
2. Batch throughput: ``expand_many`` at concurrency 32 against a server whose every response
   takes ``--latency`` seconds, compared with (a) raw ``httpx.AsyncClient`` posts at the same
   concurrency and (b) the ideal ``32 / latency`` requests per second.

The fake server runs in a separate process so it does not share the client's interpreter.

    python benchmarks/magic_bench.py [--calls 300] [--batch 640] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from collections.abc import Iterator

import anyio
import httpx

from captionkit.magic import AsyncMagicPromptClient, MagicPromptClient, load_prompt

CONCURRENCY = 32


@contextmanager
def fake_server(latency: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "captionkit.magic.testing", "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def chat_body(idea: str) -> dict:
    prompt = load_prompt()
    return {"model": "bench", "messages": prompt.messages(idea, "3:2"), "max_tokens": 16384}


def per_call(url: str, calls: int) -> tuple[float, float]:
    body = chat_body("a cafe counter")
    raw_times, client_times = [], []
    with httpx.Client() as http, MagicPromptClient("openai-compatible", base_url=f"{url}/v1", model="bench") as client:
        for _ in range(20):  # warm up both paths (connections, imports, caches)
            json.loads(http.post(f"{url}/v1/chat/completions", json=body).content)
            client.expand("a cafe counter", "3:2")
        for _ in range(calls):  # interleaved, so drift affects both alike
            t0 = time.perf_counter()
            response = http.post(f"{url}/v1/chat/completions", json=body)
            response.raise_for_status()
            json.loads(response.content)
            raw_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            client.expand("a cafe counter", "3:2")
            client_times.append(time.perf_counter() - t0)
    return statistics.median(raw_times), statistics.median(client_times)


async def raw_batch(url: str, n: int) -> float:
    body = chat_body("an idea")
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < n:
                next_index += 1
                response = await http.post(f"{url}/v1/chat/completions", json=body)
                response.raise_for_status()
                json.loads(response.content)

        t0 = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(CONCURRENCY):
                group.start_soon(worker)
        return n / (time.perf_counter() - t0)


async def client_batch(url: str, n: int) -> float:
    ideas = [f"idea number {i}" for i in range(n)]
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        async with AsyncMagicPromptClient("openai-compatible", base_url=f"{url}/v1", model="bench", http_client=http) as client:
            t0 = time.perf_counter()
            results = await client.expand_many(ideas, "3:2", concurrency=CONCURRENCY)
            elapsed = time.perf_counter() - t0
    assert all(r.ok for r in results), [str(r.error) for r in results if not r.ok][:3]
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="sequential calls per path")
    parser.add_argument("--batch", type=int, default=640, help="ideas in the batch")
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per response (batch)")
    args = parser.parse_args()

    with fake_server(0.0) as url:
        raw, ours = per_call(url, args.calls)
    print(f"per call (sequential, zero server latency, median of {args.calls}):")
    print(f"  raw httpx POST + json.loads   {raw * 1e3:8.2f} ms")
    print(f"  MagicPromptClient.expand      {ours * 1e3:8.2f} ms   (+{(ours - raw) * 1e3:.2f} ms)")
    print(f"  ratio expand / raw            {ours / raw:8.2f}x")

    with fake_server(args.latency) as url:
        raw_rps = anyio.run(raw_batch, url, args.batch)
        ours_rps = anyio.run(client_batch, url, args.batch)
    ideal = CONCURRENCY / args.latency
    print(f"batch of {args.batch} at concurrency {CONCURRENCY}, server latency {args.latency * 1e3:.0f} ms:")
    print(f"  ideal (concurrency / latency) {ideal:8.1f} req/s")
    print(f"  raw httpx.AsyncClient         {raw_rps:8.1f} req/s   ({raw_rps / ideal:.2f} of ideal)")
    print(f"  expand_many                   {ours_rps:8.1f} req/s   ({ours_rps / ideal:.2f} of ideal)")
    print(f"  ratio expand_many / raw       {ours_rps / raw_rps:8.2f}")


if __name__ == "__main__":
    main()
