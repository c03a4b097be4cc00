"""A real HTTP server on 127.0.0.1 that speaks enough of OpenAI's ``/v1/chat/completions`` for tests
and benchmarks: deterministic answers derived from the request, every attempt recorded, and
injectable faults (429 + Retry-After, 500, slow replies, malformed JSON, empty choices, dropped
connections, ``reasoning_only``: reasoning and no answer), chosen deterministically per (request body, attempt number). ``500_echo`` (in
``faults``/``script``) and ``reject_media=True`` answer HTTP 500 with an error body that echoes the
whole request, as llama-cpp-python's server does for image/audio content a text model cannot take;
``reject_json_mode=True`` answers HTTP 400 to requests asking for ``response_format`` (no JSON mode).
As a process (``python tests/fake_openai_server.py --port N [--exit-after K] [--reject-media]
[--reject-json-mode]``) it serves until killed, or kills itself with SIGKILL on its K-th chat request,
unanswered (a server that dies mid-run).

    with FakeOpenAIServer(fault_rate=0.3) as server:
        ... base_url=server.base_url ...
        server.requests  # one record per HTTP attempt: {"body", "fault", "authorization", ...}
"""
from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

REFUSAL = "I'm sorry, but I cannot assist with that."
FAULTS = ("429", "500", "slow", "malformed", "no_choices", "drop")


def free_port() -> int:
    """A port with nothing listening on it (for the unreachable-server case)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_parts(body: dict) -> tuple[str, list[str], list[dict]]:
    """(text, image URLs, input_audio dicts) of the last user message of a request body."""
    message = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]
    content = message["content"]
    if isinstance(content, str):
        return content, [], []
    text = " ".join(part["text"] for part in content if part.get("type") == "text")
    images = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    audio = [part["input_audio"] for part in content if part.get("type") == "input_audio"]
    return text, images, audio


def default_answer(body: dict) -> str:
    """Deterministic reply: with media, a refusal or a short non-answer chosen by the media hash
    (so refusal rates differ per sample); text only, an echo of the prompt."""
    text, images, audio = user_parts(body)
    if images or audio:
        digest = hashlib.sha256(json.dumps([images, audio]).encode()).hexdigest()
        return REFUSAL if int(digest, 16) % 2 == 0 else f"The document reference is {digest[:8]}."
    return f"echo: {text}"


class FakeOpenAIServer:
    """Threaded chat-completions server; ``answer(body) -> str`` makes the reply text."""

    def __init__(self, answer: Callable[[dict], str] = default_answer, *, fault_rate: float = 0.0,
                 faults: tuple[str, ...] = FAULTS, latency: float = 0.0, slow_seconds: float = 2.0,
                 retry_after: str = "0", seed: int = 0, script: list[str] | None = None,
                 reject_media: bool = False, reject_json_mode: bool = False) -> None:
        self.answer = answer
        self.reject_media = reject_media
        self.reject_json_mode = reject_json_mode
        self.fault_rate = fault_rate
        self.faults = faults
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.retry_after = retry_after
        self.seed = seed
        self.script = list(script or [])  # faults forced on the next attempts, in order ("ok" = none)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, port: int = 0) -> "FakeOpenAIServer":
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _Server(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def bodies(self) -> list[dict]:
        with self.lock:
            return [r["body"] for r in self.requests if r["body"] is not None]

    # -- fault choice -------------------------------------------------------------------------
    def choose_fault(self, raw: bytes) -> str | None:
        with self.lock:
            if self.script:
                forced = self.script.pop(0)
                return None if forced == "ok" else forced
            key = hashlib.sha256(raw).hexdigest()
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        if not self.fault_rate:
            return None
        digest = hashlib.sha256(f"{self.seed}:{key}:{attempt}".encode()).hexdigest()
        if int(digest[:8], 16) / 2**32 >= self.fault_rate:
            return None
        return self.faults[int(digest[8:16], 16) % len(self.faults)]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 stalls bursts of concurrent connections
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    owner: FakeOpenAIServer

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode())
        else:
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        owner = self.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        fault = owner.choose_fault(raw)
        with owner.lock:
            owner.requests.append({"path": self.path, "body": body, "fault": fault, "time": time.monotonic(),
                                   "authorization": self.headers.get("Authorization"),
                                   "sha256": hashlib.sha256(raw).hexdigest()})
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
            return
        if body is None:
            self._send(400, json.dumps({"error": {"message": "body is not JSON"}}).encode())
            return
        if owner.reject_json_mode and "response_format" in body:
            self._send(400, json.dumps({"error": {"message": "response_format is not supported"}}).encode())
            return
        if owner.latency:
            time.sleep(owner.latency)
        if fault == "429":
            self._send(429, json.dumps({"error": {"message": "rate limited"}}).encode(),
                       {"Retry-After": owner.retry_after})
            return
        if fault == "500":
            self._send(500, json.dumps({"error": {"message": "internal error"}}).encode())
            return
        if fault == "500_echo" or (owner.reject_media and any(user_parts(body)[1:])):
            message = f"can only concatenate str (not \"list\") to str\nRequest body: {raw.decode()}"
            self._send(500, json.dumps({"error": {"message": message, "type": "internal_server_error"}}).encode())
            return
        if fault == "malformed":
            self._send(200, b'{"id": "x", "choices": [{"message": {"content": "trunc')
            return
        if fault == "no_choices":
            self._send(200, json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode())
            return
        if fault == "reasoning_only":  # a reasoning server whose model ran out of tokens while reasoning
            message = {"role": "assistant", "content": None, "reasoning_content": "The user wants the value ..."}
            self._send(200, json.dumps({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "finish_reason": "length"}]}).encode())
            return
        if fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "slow":
            time.sleep(owner.slow_seconds)
        text = owner.answer(body)
        reply = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        self._send(200, json.dumps(reply).encode())


def main(argv: list[str] | None = None) -> None:
    import argparse
    import os
    import signal
    import sys

    parser = argparse.ArgumentParser(description="a fake OpenAI-compatible server on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--exit-after", type=int, help="die (SIGKILL) on this chat request, unanswered")
    parser.add_argument("--reject-media", action="store_true", help="HTTP 500 to image/audio content")
    parser.add_argument("--reject-json-mode", action="store_true", help="HTTP 400 to response_format")
    args = parser.parse_args(argv)
    seen = 0
    lock = threading.Lock()  # requests arrive on several threads: one counts, one line, one kill

    def answer(body: dict) -> str:
        nonlocal seen
        with lock:
            seen += 1
            if args.exit_after and seen >= args.exit_after:
                sys.stdout.write(f"fake server: killing itself on chat request {seen}\n")
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return default_answer(body)

    server = FakeOpenAIServer(answer, reject_media=args.reject_media,
                              reject_json_mode=args.reject_json_mode).start(args.port)
    print(f"fake server: listening on {server.base_url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
