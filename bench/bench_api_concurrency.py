"""Throughput of ``mmpriv-api`` as a share of its ideal, at several concurrencies, in one run.

A local chat-completions server answers every request after a fixed latency (default 100 ms). It
runs in separate processes (``--servers``, default 2, sharing one port through SO_REUSEPORT), so
the client's own CPU is measured alone. Requests go through the real ``OpenAICompatLM.generate_until``
path (lazy payload building, one JSON serialisation, aiohttp), each carrying a 3 s 16 kHz mono WAV
clip (~128 KB of base64, HearSay's format), with ``cache=false``.

For ``c`` requests in flight, the ideal is ``c / latency`` requests per second, so a run of ``w``
full waves (``w * c`` requests) ideally takes ``w * latency``. Per concurrency, two runs of
``--short-waves`` and ``--waves`` waves (5 and 27: at c = 64 the difference is 1,408 requests) give

- ``pct_of_ideal``: the long run's ideal time over its wall time (start-up and the last, partly
  empty wave included);
- ``steady_pct_of_ideal``: the same for the difference of the two runs, the steady state a large
  run sees (its inverse is the marginal time of the extra waves as a multiple of their ideal);
- ``bare_pct_of_ideal`` / ``bare_steady_pct_of_ideal``: both for a bare aiohttp loop posting the
  same bodies pre-built (no payload building, retries or bookkeeping), run alternately with the
  client: what any Python aiohttp client gets on this machine, with the servers on the same cores;
- ``steady_pct_of_bare``: the client's steady share as a share of the bare loop's, i.e. how close the
  client comes to what the machine allows;
- the client's CPU time per request (user + system of this process, long run), the bare loop's,
  and their ratio.

    python bench/bench_api_concurrency.py [--concurrency 8 32 64 128] [--latency 0.1] [--servers 2]
        [--waves 27] [--short-waves 5]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

REPLY = json.dumps({"id": "bench", "object": "chat.completion", "created": 0, "model": "bench",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "I cannot help."},
                                 "finish_reason": "stop"}]}).encode()


def serve(port: int, latency: float) -> None:
    """One server process: reads each body, waits ``latency`` seconds, answers."""
    from aiohttp import web

    async def answer(request):
        await request.read()
        await asyncio.sleep(latency)
        return web.Response(body=REPLY, content_type="application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", answer)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, print=None, access_log=None, backlog=1024)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the bench server did not start")


def _clips(count: int = 64, seconds: float = 3.0) -> list[bytes]:
    import soundfile

    rng = np.random.default_rng(0)
    clips = []
    for _ in range(count):
        buffer = io.BytesIO()
        soundfile.write(buffer, (0.1 * rng.standard_normal(int(16_000 * seconds))).astype(np.float32), 16_000,
                        format="WAV", subtype="PCM_16")
        clips.append(buffer.getvalue())
    return clips


def _requests(count: int, clips: list[bytes]):
    from lm_eval.api.instance import Instance

    return [Instance(request_type="generate_until", doc={}, idx=0, metadata=("bench", index, 1),
                     arguments=(f"What is the speaker's gender? ({index})", {"until": [], "max_gen_toks": 32},
                                {"audio": [{"bytes": clips[index % len(clips)], "path": None}]}))
            for index in range(count)]


def measure(base_url: str, in_flight: int, count: int, clips: list[bytes]) -> tuple[float, float]:
    """(seconds, client CPU seconds) for ``count`` requests with ``in_flight`` concurrent."""
    from mmpriv_tasks.models.openai_compat import OpenAICompatLM

    model = OpenAICompatLM(base_url=base_url, model="bench", num_concurrent=in_flight, cache=False, timeout=60)
    requests = _requests(count, clips)
    cpu, start = os.times(), time.perf_counter()
    replies = model.generate_until(requests, disable_tqdm=True)
    elapsed, after = time.perf_counter() - start, os.times()
    assert replies == ["I cannot help."] * count, "errors in the bench run"
    return elapsed, (after.user - cpu.user) + (after.system - cpu.system)


def bare_bodies(clips: list[bytes]) -> list[bytes]:
    """One request body per clip, as the client serialises it, for :func:`bare`."""
    from mmpriv_tasks.api.client import encode_body
    from mmpriv_tasks.api.payload import build_messages, build_request

    return [encode_body(build_request("bench", build_messages(f"q {i}", {"audio": [clip]})))
            for i, clip in enumerate(clips)]


def bare(base_url: str, in_flight: int, count: int, bodies: list[bytes]) -> tuple[float, float]:
    """(seconds, CPU seconds) of a bare aiohttp loop posting ``count`` pre-built ``bodies`` (in turn),
    ``in_flight`` at once: no payload building, retries or bookkeeping."""
    import aiohttp

    async def send_all() -> None:
        url = base_url + "/chat/completions"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight)) as session:
            async def worker(first: int) -> None:
                for index in range(first, count, in_flight):
                    async with session.post(url, data=bodies[index % len(bodies)],
                                            headers={"Content-Type": "application/json"}) as reply:
                        await reply.read()
            await asyncio.gather(*(worker(k) for k in range(in_flight)))

    cpu, start = os.times(), time.perf_counter()
    asyncio.run(send_all())
    elapsed, after = time.perf_counter() - start, os.times()
    return elapsed, (after.user - cpu.user) + (after.system - cpu.system)


def _pct(waves: float, latency: float, seconds: float) -> float:
    return round(100 * waves * latency / seconds, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64, 128])
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    parser.add_argument("--waves", type=int, default=27, help="full waves of requests in the long run")
    parser.add_argument("--short-waves", type=int, default=5, help="full waves in the short run")
    parser.add_argument("--servers", type=int, default=2, help="server processes")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # run as one server process on this port
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.latency)
        return 0
    port = _free_port()
    servers = [subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency", str(args.latency)])
               for _ in range(args.servers)]
    try:
        _wait_for(port)
        base_url = f"http://127.0.0.1:{port}/v1"
        clips = _clips()
        bodies = bare_bodies(clips)
        measure(base_url, 8, 16, clips)  # warm-up: imports, first connections
        bare(base_url, 8, 16, bodies)
        print(f"server latency {args.latency * 1000:.0f} ms, {args.servers} server processes, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              f"runs of {args.short_waves} and {args.waves} waves", flush=True)
        extra = args.waves - args.short_waves
        for c in args.concurrency:
            short, _ = measure(base_url, c, c * args.short_waves, clips)
            bare_short, _ = bare(base_url, c, c * args.short_waves, bodies)
            long, cpu = measure(base_url, c, c * args.waves, clips)
            bare_long, bare_cpu = bare(base_url, c, c * args.waves, bodies)
            steady = _pct(extra, args.latency, long - short)
            bare_steady = _pct(extra, args.latency, bare_long - bare_short)
            print(json.dumps({
                "c": c, "requests": c * args.waves, "requests_per_s": round(c * args.waves / long, 1),
                "pct_of_ideal": _pct(args.waves, args.latency, long), "steady_pct_of_ideal": steady,
                "bare_pct_of_ideal": _pct(args.waves, args.latency, bare_long), "bare_steady_pct_of_ideal": bare_steady,
                "steady_pct_of_bare": round(100 * steady / bare_steady, 1),
                "client_cpu_ms_per_request": round(1000 * cpu / (c * args.waves), 3),
                "bare_cpu_ms_per_request": round(1000 * bare_cpu / (c * args.waves), 3),
                "cpu_x_bare": round(cpu / bare_cpu, 2)}), flush=True)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
