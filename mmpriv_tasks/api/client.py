"""A concurrent client for OpenAI-compatible ``/chat/completions`` endpoints.

One request = one JSON payload. :meth:`ChatClient.complete_many` sends many of them with at most
``num_concurrent`` in flight (asyncio + aiohttp), each with a total ``timeout``, and retries
transient failures with exponential backoff and jitter:

- HTTP 408 / 409 / 429 / 5xx (waiting at least the server's ``Retry-After``),
- timeouts and dropped connections,
- a 200 reply whose body is not JSON or has no ``choices[0].message.content``.

Other HTTP errors (400, 401, 404...) are not retried. A request that still fails becomes a
:class:`ChatResult` with ``error`` set; callers turn it into ``errors.format_error`` - never into
an answer. Successful replies are stored in an on-disk cache keyed by a hash of the full request
(model, messages including the media bytes, generation parameters), so a re-run or an interrupted
run resumes without re-sending them; errors are never cached.

Logs name request ids, attempts and HTTP statuses only - never prompts, replies or keys.
"""
from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm import tqdm

logger = logging.getLogger("mmpriv_tasks.api")

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass
class ChatResult:
    """The outcome of one request: ``text`` on success, else ``error`` (a one-line reason)."""

    text: str | None = None
    error: str | None = None
    attempts: int = 0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested wait, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Permanent(Exception):
    """A failure that a retry would not fix (bad request, auth, unknown model)."""


def request_key(payload: dict) -> str:
    """SHA-256 of the canonical JSON of a request payload (model, messages with their base64
    media, generation parameters): equal requests share a key, any change gives a new one."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Successful reply texts by request key, in ``<directory>/responses.sqlite`` (WAL mode,
    committed per write so an interrupted run keeps everything it finished)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "responses.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                             "created REAL NOT NULL)")
            self._db.commit()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT text FROM responses WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, text: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, text, created) VALUES (?, ?, ?)",
                             (key, text, time.time()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def extract_text(body: Any) -> str:
    """``choices[0].message.content`` of a chat-completions reply (or the ``refusal`` field some
    servers fill instead); raises ``_Transient`` for a malformed reply."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise _Transient("malformed reply: no choices[0].message") from None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        refusal = message.get("refusal") if isinstance(message, dict) else None
        if isinstance(refusal, str):
            return refusal
        raise _Transient("malformed reply: message.content is not text")
    return content


def chat_completions_url(base_url: str) -> str:
    """``<base_url>/chat/completions`` (a base URL that already names the endpoint is kept)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def run_coroutine(factory: Callable[[], Any]) -> Any:
    """Run ``factory()``'s coroutine to completion from sync code, also when an event loop is
    already running in this thread (e.g. Jupyter): then it runs on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class ChatClient:
    """Sends chat-completions payloads concurrently with retries, backoff and a response cache.

    ``api_key`` is sent as a Bearer token and never logged or shown in ``repr``.
    ``cache_dir=None`` disables the on-disk cache.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        num_concurrent: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        cache_dir: str | Path | None = None,
        headers: dict | None = None,
        seed: int | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required, e.g. http://localhost:8000/v1")
        self.url = chat_completions_url(base_url)
        self.num_concurrent = max(1, int(num_concurrent))
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self._api_key = api_key or None
        self._extra_headers = dict(headers or {})
        self._rng = random.Random(seed)
        self.stats = {"http_attempts": 0, "cache_hits": 0, "ok": 0, "errors": 0}

    def __repr__(self) -> str:
        return (f"ChatClient(url={self.url!r}, num_concurrent={self.num_concurrent}, timeout={self.timeout}, "
                f"max_retries={self.max_retries}, api_key={'set' if self._api_key else 'none'}, "
                f"cache={str(self.cache.path) if self.cache is not None else None!r})")

    # -- public API -------------------------------------------------------------------------

    def complete(self, payload: dict, request_id: str = "0", **kwargs: Any) -> ChatResult:
        """One request (see :meth:`complete_many`)."""
        return self.complete_many([payload], [request_id], **kwargs)[0]

    def complete_many(
        self,
        payloads: Sequence[dict],
        ids: Sequence[str] | None = None,
        *,
        validate: Callable[[str], str | None] | None = None,
        desc: str = "api requests",
        disable_tqdm: bool = False,
    ) -> list[ChatResult]:
        """Results for ``payloads``, in order. ``ids`` name the requests in logs (sample ids, never
        prompts). ``validate(text)`` may return an error message for a reply that arrived but is
        unusable (e.g. a judge reply that is not the JSON asked for): that result gets ``error``
        set and is not cached."""
        ids = [str(i) for i in (ids if ids is not None else range(len(payloads)))]
        results: list[ChatResult | None] = [None] * len(payloads)
        keys = [request_key(payload) for payload in payloads]
        pending = []
        for index, key in enumerate(keys):
            text = self.cache.get(key) if self.cache is not None else None
            if text is not None and (validate is None or validate(text) is None):
                results[index] = ChatResult(text=text, cached=True)
                self.stats["cache_hits"] += 1
            else:
                pending.append(index)
        if pending:
            bar = tqdm(total=len(payloads), initial=len(payloads) - len(pending), desc=desc,
                       disable=disable_tqdm)
            try:
                done = run_coroutine(lambda: self._send_all(
                    [(ids[i], payloads[i], keys[i]) for i in pending], validate, bar))
            finally:
                bar.close()
            for index, result in zip(pending, done):
                results[index] = result
        final = [result for result in results if result is not None]
        errors = sum(not result.ok for result in final)
        self.stats["ok"] += len(final) - errors
        self.stats["errors"] += errors
        logger.info("%d requests: %d answered (%d from cache), %d errors", len(final), len(final) - errors,
                    sum(result.cached for result in final), errors)
        return final

    # -- internals --------------------------------------------------------------------------

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json", **self._extra_headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential with jitter
        (50-100 % of ``backoff_base * 2**(attempt-1)``, capped at ``backoff_max``), and never
        less than the server's ``Retry-After`` (itself capped at ``retry_after_max``)."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        delay *= 0.5 + 0.5 * self._rng.random()
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_max))
        return delay

    async def _send_all(self, jobs, validate, bar) -> list[ChatResult]:
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover - aiohttp comes with datasets/fsspec[http]
            raise ImportError("the API client needs aiohttp: pip install 'mmpriv-tasks[api]'") from exc

        semaphore = asyncio.Semaphore(self.num_concurrent)
        connector = aiohttp.TCPConnector(limit=self.num_concurrent, force_close=False)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers(),
                                         raise_for_status=False) as session:
            async def one(request_id, payload, key):
                async with semaphore:
                    result = await self._send_one(session, request_id, payload, key, validate)
                bar.update(1)
                return result

            return await asyncio.gather(*(one(*job) for job in jobs))

    async def _post(self, session, payload: dict) -> str:
        """One HTTP attempt: the reply text, or ``_Transient`` / ``_Permanent``."""
        import aiohttp

        self.stats["http_attempts"] += 1
        try:
            async with session.post(self.url, json=payload) as response:
                raw = await response.read()
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            raise _Transient(f"timed out after {self.timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise _Transient(f"cannot connect to {exc.host}:{exc.port} ({exc.os_error or exc})") from None
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise _Transient(f"connection error ({type(exc).__name__})") from None
        if status != 200:
            detail = _error_detail(raw)
            if status in RETRYABLE_STATUS:
                raise _Transient(f"HTTP {status}{detail}", retry_after)
            raise _Permanent(f"HTTP {status}{detail}")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Transient("malformed reply: body is not JSON") from None
        return extract_text(body)

    async def _send_one(self, session, request_id: str, payload: dict, key: str, validate) -> ChatResult:
        attempts = 0
        while True:
            attempts += 1
            try:
                text = await self._post(session, payload)
            except _Permanent as exc:
                logger.warning("request %s failed (not retried): %s", request_id, exc)
                return ChatResult(error=f"{exc} from {self.url}", attempts=attempts)
            except _Transient as exc:
                if attempts > self.max_retries:
                    logger.warning("request %s failed after %d attempts: %s", request_id, attempts, exc.reason)
                    return ChatResult(error=f"request to {self.url} failed after {attempts} attempts: "
                                            f"{exc.reason}", attempts=attempts)
                delay = self.backoff_delay(attempts, exc.retry_after)
                logger.info("request %s attempt %d: %s; retrying in %.2f s", request_id, attempts, exc.reason, delay)
                await asyncio.sleep(delay)
                continue
            problem = validate(text) if validate else None
            if problem:
                logger.warning("request %s: unusable reply: %s", request_id, problem)
                return ChatResult(error=problem, attempts=attempts)
            if self.cache is not None:
                self.cache.put(key, text)
            return ChatResult(text=text, attempts=attempts)


def _error_detail(raw: bytes) -> str:
    """``": <server message>"`` from an OpenAI-style error body (short; servers do not echo prompts)."""
    try:
        body = json.loads(raw.decode("utf-8"))
        message = body.get("error", {}).get("message") if isinstance(body.get("error"), dict) else body.get("error")
    except Exception:  # noqa: BLE001 - any non-JSON error body
        return ""
    if not message:
        return ""
    message = " ".join(str(message).split())
    return f": {message[:200]}"
