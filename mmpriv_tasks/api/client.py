"""A concurrent client for OpenAI-compatible ``/chat/completions`` endpoints.

One request = one JSON payload. :meth:`ChatClient.complete_many` sends many of them with at most
``num_concurrent`` in flight (asyncio + aiohttp, one worker per slot), each with a total ``timeout``.
A payload may be given as a function that builds it: it is called when a slot frees up, so media
are encoded while earlier requests are in flight and nothing is built up front. Each body is
serialised once (:func:`encode_body`); the cache key is the SHA-256 of those same bytes, computed
only when the cache is on. Transient failures are retried with exponential backoff and jitter:

- HTTP 408 / 409 / 429 / 5xx (waiting at least the server's ``Retry-After``),
- timeouts and dropped connections,
- a 200 reply whose body is not JSON or has no ``choices[0].message.content`` (but not one that holds
  a reasoning model's reasoning and no answer: the token limit ran out while it reasoned).

Other HTTP errors (400, 401, 404...) are not retried. An HTTP error that ends ``REPEAT_LIMIT``
requests with the same status and message (e.g. a text-only server rejecting every image) is
reported once, with a hint, and is no longer retried for later requests. An endpoint that cannot
be reached (connection refused, unknown host) for ``unreachable_limit`` requests in a row stops the
batch: one WARNING line, and every request not yet answered fails at once instead of retrying. A
request that still fails becomes a :class:`ChatResult` with ``error`` set; callers turn it into
``errors.format_error`` - never into an answer. Successful replies are stored in an on-disk cache
keyed by a hash of the full request body (model, messages including the media bytes, generation
parameters), so a re-run or an interrupted run resumes without re-sending them; errors are never cached.

Logs name request ids (sample ids), attempts and HTTP statuses, and a short summary of a server's
error message with anything that echoes the request cut off - never prompts, replies or keys.
Each attempt is logged at DEBUG; per batch, retry counts at INFO; failures at WARNING.
"""
from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Union

from tqdm import tqdm

from mmpriv_tasks.api.payload import MediaField

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
REPEAT_LIMIT = 3  # requests ended by one identical HTTP error before it is no longer retried
UNREACHABLE_LIMIT = 3  # requests in a row that could not connect before a batch stops
SUMMARY_CHARS = 160


@dataclass
class ChatResult:
    """The outcome of one request: ``text`` on success, else ``error`` (a one-line reason) and
    ``kind`` (``APIError``, or the exception class of a payload that could not be built)."""

    text: str | None = None
    error: str | None = None
    attempts: int = 0
    cached: bool = False
    kind: str = "APIError"

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failure(Exception):
    """A failed attempt; ``signature`` identifies an HTTP error (status + message summary) so one
    that repeats for many requests can be recognised (None for timeouts, rate limits...)."""

    def __init__(self, reason: str, retry_after: float | None = None, signature: tuple | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.signature = signature


class _Transient(_Failure):
    """A failure worth retrying; ``retry_after`` is the server's requested wait, if any."""


class _Permanent(_Failure):
    """A failure that a retry would not fix (bad request, auth, unknown model)."""


class _Unreachable(_Transient):
    """No connection could be made (refused, unknown host): counts towards ``unreachable_limit``."""


Job = Union[dict, Callable[[], dict]]  # a payload, or a function building it when a slot frees up


_MEDIA_MARK = f"mmpriv-media-{os.urandom(8).hex()}"  # stands in for base64 media while the rest is encoded
_MEDIA_MARK_BYTES = _MEDIA_MARK.encode("ascii")
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _set_media_aside(value: Any, media: list) -> Any:
    """``value`` with the media text of each :class:`MediaField` replaced by the mark, in the order
    the JSON encoder writes them (appended to ``media``). Plain strings are kept without a call."""
    if isinstance(value, MediaField):
        media.append(value[value.key])
        return {key: _MEDIA_MARK if key == value.key else item for key, item in value.items()}
    if isinstance(value, dict):
        return {key: item if type(item) is str else _set_media_aside(item, media) for key, item in value.items()}
    if isinstance(value, list):
        return [item if type(item) is str else _set_media_aside(item, media) for item in value]
    return value


def encode_body(payload: dict) -> bytes:
    """The bytes sent for ``payload``: compact UTF-8 JSON, keys in the payload's own order. Base64
    media (:class:`MediaField`) are joined in as bytes, not scanned by the JSON encoder: the result
    is byte for byte ``json.dumps(payload, separators=(",", ":"), ensure_ascii=False)``."""
    media: list = []
    text = _ENCODER.encode({**payload, "messages": _set_media_aside(payload["messages"], media)}
                           if "messages" in payload else payload).encode("utf-8")
    if not media:
        return text
    pieces: list = [None] * (2 * len(media) + 1)
    pieces[0::2] = text.split(_MEDIA_MARK_BYTES)  # each mark stays between its quotes
    pieces[1::2] = [item.encode("ascii") for item in media]
    return b"".join(pieces)


def request_key(payload: dict) -> str:
    """SHA-256 of the request body (:func:`encode_body`): equal requests share a key, any change
    (model, messages with their base64 media, generation parameters) gives a new one."""
    return hashlib.sha256(encode_body(payload)).hexdigest()


class ResponseCache:
    """Successful reply texts by request key, in ``<directory>/responses.sqlite`` (WAL mode,
    committed per write so an interrupted run keeps everything it finished)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.directory / "responses.sqlite"
        # replies may hold PII: owner-only folder and file (SQLite gives its -wal/-shm files the db's mode)
        os.chmod(self.directory, 0o700)
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(self.path, 0o600)
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
    servers fill instead); raises ``_Transient`` for a malformed reply, and ``_Permanent`` for one that
    holds a reasoning model's reasoning (``reasoning_content`` / ``reasoning``) and no answer: the
    model spent its tokens reasoning, and asking again would do the same."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise _Transient("malformed reply: no choices[0].message") from None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        if isinstance(message, dict) and isinstance(message.get("refusal"), str):
            return message["refusal"]
        if isinstance(message, dict) and any(isinstance(message.get(key), str)
                                             for key in ("reasoning_content", "reasoning")):
            raise _Permanent(f"no answer: the reply holds reasoning only (finish_reason="
                             f"{choice.get('finish_reason')}); give a reasoning model more tokens "
                             f"(--gen_kwargs max_gen_toks=4096)")
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
        return _run_reporting_once(factory)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_reporting_once, factory).result()


def _run_reporting_once(factory: Callable[[], Any]) -> Any:
    """``asyncio.run(factory())``; an exception that ends the loop (Ctrl-C or SIGTERM raised inside a
    request, in whichever task it lands) reaches the caller only, not also asyncio's "Task exception
    was never retrieved" log when the finished task is collected."""

    async def run_main():
        asyncio.get_running_loop().set_exception_handler(_quiet_about_interrupts)
        return await factory()

    return asyncio.run(run_main())


def _quiet_about_interrupts(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """asyncio's default handler, minus reports of a Ctrl-C/SIGTERM the caller already handles."""
    if not isinstance(context.get("exception"), KeyboardInterrupt):
        loop.default_exception_handler(context)


class _Batch:
    """State shared by the workers of one :meth:`ChatClient.complete_many` call."""

    def __init__(self, jobs: Iterable, validate, bar) -> None:
        self.jobs = jobs
        self.validate = validate
        self.bar = bar
        self.unreachable_run = 0  # requests in a row that ended unable to connect
        self.stopped: str | None = None  # why the rest of the batch is not sent


class ChatClient:
    """Sends chat-completions payloads concurrently with retries, backoff and a response cache.

    ``api_key`` is sent as a Bearer token and never logged or shown in ``repr``.
    ``cache_dir=None`` disables the on-disk cache (and the hashing of request bodies).
    ``unreachable_limit=0`` never stops a batch for an unreachable endpoint.
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
        unreachable_limit: int = UNREACHABLE_LIMIT,
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
        self.unreachable_limit = max(0, int(unreachable_limit))
        self.cache = ResponseCache(cache_dir) if cache_dir else None
        self._api_key = api_key or None
        self._extra_headers = dict(headers or {})
        self._rng = random.Random(seed)
        self.stats = {"http_attempts": 0, "cache_hits": 0, "ok": 0, "errors": 0, "retries": 0}
        self._ended_by: dict[tuple, int] = {}  # HTTP error signature -> requests it ended

    def __repr__(self) -> str:
        return (f"ChatClient(url={self.url!r}, num_concurrent={self.num_concurrent}, timeout={self.timeout}, "
                f"max_retries={self.max_retries}, api_key={'set' if self._api_key else 'none'}, "
                f"cache={str(self.cache.path) if self.cache is not None else None!r})")

    # -- public API -------------------------------------------------------------------------

    def complete(self, payload: Job, request_id: str = "0", **kwargs: Any) -> ChatResult:
        """One request (see :meth:`complete_many`)."""
        return self.complete_many([payload], [request_id], **kwargs)[0]

    def complete_many(
        self,
        payloads: Iterable[Job],
        ids: Iterable[str] | None = None,
        *,
        total: int | None = None,
        validate: Callable[[str], str | None] | None = None,
        desc: str = "api requests",
        disable_tqdm: bool = False,
    ) -> list[ChatResult]:
        """Results for ``payloads`` (dicts, or functions returning one, called when a slot frees up),
        in order. ``ids`` name the requests in logs (sample ids, never prompts); ``total`` is the
        count when ``payloads`` has no ``len``. A function that raises gives that request an error
        (``kind`` = the exception's class), nothing is sent. ``validate(text)`` may return an error
        message for a reply that arrived but is unusable (e.g. a judge reply that is not the JSON
        asked for): that result gets ``error`` set and is not cached."""
        count = len(payloads) if total is None else int(total)  # type: ignore[arg-type]
        ids = range(count) if ids is None else ids
        results: list[ChatResult | None] = [None] * count
        if count:
            bar = tqdm(total=count, desc=desc, disable=disable_tqdm)
            batch = _Batch(zip(range(count), ids, payloads), validate, bar)
            try:
                run_coroutine(lambda: self._run(batch, results))
            finally:
                bar.close()
        final = [result for result in results if result is not None]
        errors = sum(not result.ok for result in final)
        retries = sum(max(0, result.attempts - 1) for result in final)
        cached = sum(result.cached for result in final)
        self.stats["cache_hits"] += cached
        self.stats["ok"] += len(final) - errors
        self.stats["errors"] += errors
        self.stats["retries"] += retries
        logger.info("%d requests: %d answered (%d from cache), %d errors, %d retries", len(final),
                    len(final) - errors, cached, errors, retries)
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

    async def _run(self, batch: _Batch, results: list) -> None:
        """``num_concurrent`` workers, each taking the next job when its request is done."""
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover - aiohttp comes with datasets/fsspec[http]
            raise ImportError("the API client needs aiohttp: pip install 'mmpriv-tasks[api]'") from exc

        connector = aiohttp.TCPConnector(limit=self.num_concurrent)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers(),
                                         raise_for_status=False) as session:
            async def worker() -> None:
                for index, request_id, job in batch.jobs:  # one shared iterator: next() never awaits
                    results[index] = await self._one(session, str(request_id), job, batch)
                    batch.bar.update(1)

            await asyncio.gather(*(worker() for _ in range(min(self.num_concurrent, len(results)))))

    async def _one(self, session, request_id: str, job: Job, batch: _Batch) -> ChatResult:
        """Build, look up in the cache, else send one request."""
        if batch.stopped and self.cache is None:
            return ChatResult(error=batch.stopped)
        try:
            payload = job() if callable(job) else job
            body = encode_body(payload)
        except Exception as exc:  # noqa: BLE001 - e.g. a MediaError naming the sample; never a crash
            logger.warning("request %s not sent: %s", request_id, type(exc).__name__)
            return ChatResult(error=str(exc), kind=type(exc).__name__)
        key = None
        if self.cache is not None:
            key = hashlib.sha256(body).hexdigest()
            text = self.cache.get(key)
            if text is not None and (batch.validate is None or batch.validate(text) is None):
                return ChatResult(text=text, cached=True)
            if batch.stopped:
                return ChatResult(error=batch.stopped)
        return await self._send_one(session, request_id, payload, body, key, batch)

    async def _post(self, session, payload: dict, body: bytes) -> str:
        """One HTTP attempt: the reply text, or ``_Transient`` / ``_Permanent``."""
        import aiohttp

        self.stats["http_attempts"] += 1
        try:
            async with session.post(self.url, data=body) as response:
                raw = await response.read()
                status, headers = response.status, response.headers
        except asyncio.TimeoutError:
            raise _Transient(f"timed out after {self.timeout:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise _Unreachable(f"cannot connect to {exc.host}:{exc.port} ({exc.os_error or exc})") from None
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise _Transient(f"connection error ({type(exc).__name__})") from None
        if status != 200:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            summary = error_summary(raw, payload)
            reason = f"HTTP {status}: {summary}" if summary else f"HTTP {status}"
            signature = None if status == 429 or retry_after is not None else (status, summary)
            if status in RETRYABLE_STATUS:
                raise _Transient(reason, retry_after, signature)
            raise _Permanent(reason, signature=signature)
        try:
            reply = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Transient("malformed reply: body is not JSON") from None
        return extract_text(reply)

    async def _send_one(self, session, request_id: str, payload: dict, body: bytes, key: str | None,
                        batch: _Batch) -> ChatResult:
        attempts = 0
        while True:
            attempts += 1
            try:
                text = await self._post(session, payload, body)
            except _Permanent as exc:
                batch.unreachable_run = 0
                return self._failed(request_id, payload, exc, attempts,
                                    f"{exc.reason} from {self.url} (not retried)")
            except _Transient as exc:
                if batch.stopped:
                    return ChatResult(error=batch.stopped, attempts=attempts)
                repeated = self._ended_by.get(exc.signature, 0) >= REPEAT_LIMIT
                if attempts > self.max_retries or repeated:
                    error = f"request to {self.url} failed after {attempts} attempts: {exc.reason}"
                    if self._stops(batch, exc, request_id, error):
                        return ChatResult(error=batch.stopped, attempts=attempts)
                    return self._failed(request_id, payload, exc, attempts, error)
                delay = self.backoff_delay(attempts, exc.retry_after)
                logger.debug("request %s attempt %d: %s; retrying in %.2f s", request_id, attempts, exc.reason,
                             delay)
                await asyncio.sleep(delay)
                continue
            batch.unreachable_run = 0
            problem = batch.validate(text) if batch.validate else None
            if problem:
                logger.warning("request %s: unusable reply: %s", request_id, problem)
                return ChatResult(error=problem, attempts=attempts)
            if key is not None:
                self.cache.put(key, text)
            return ChatResult(text=text, attempts=attempts)

    def _stops(self, batch: _Batch, exc: _Failure, request_id: str, error: str) -> bool:
        """Count a request that ended on ``exc``; True when it makes the batch stop (logged once)."""
        if not isinstance(exc, _Unreachable):
            batch.unreachable_run = 0
            return False
        batch.unreachable_run += 1
        if not self.unreachable_limit or batch.unreachable_run < self.unreachable_limit:
            return False
        batch.stopped = (f"not sent: {self.url} is unreachable ({batch.unreachable_run} requests in a row "
                         f"failed: {exc.reason})")
        logger.warning("%s is unreachable: %d requests in a row could not connect (last: %s, %s); the rest of "
                       "this batch fails now without being sent", self.url, batch.unreachable_run, request_id,
                       exc.reason)
        return True

    def _failed(self, request_id: str, payload: dict, exc: _Failure, attempts: int, error: str) -> ChatResult:
        """The result of a request that failed for good; an HTTP error that has now ended
        ``REPEAT_LIMIT`` requests is reported once (with a hint) and logged at DEBUG after that."""
        count = self._ended_by.get(exc.signature, 0) + 1 if exc.signature else 0
        if exc.signature:
            self._ended_by[exc.signature] = count
        if count >= REPEAT_LIMIT:
            error = f"{error} (the same error ended {REPEAT_LIMIT}+ requests: no longer retried; {repeat_hint(payload)})"
        if count == REPEAT_LIMIT:
            logger.warning("%s ended %d requests (last: %s); later requests failing with it are not retried. %s",
                           exc.reason, count, request_id, repeat_hint(payload))
        elif count > REPEAT_LIMIT:
            logger.debug("request %s failed: %s (repeated error)", request_id, exc.reason)
        else:
            logger.warning("request %s failed after %d attempt(s): %s", request_id, attempts, exc.reason)
        return ChatResult(error=error, attempts=attempts)


def _content_types(payload: dict) -> set[str]:
    """The content-part types (``image_url``, ``input_audio``...) in a request's messages."""
    return {part.get("type") for message in payload.get("messages") or [] if isinstance(message, dict)
            for part in (message.get("content") if isinstance(message.get("content"), list) else [])
            if isinstance(part, dict)}


def repeat_hint(payload: dict) -> str:
    """What a server that fails every request the same way probably means."""
    types = _content_types(payload)
    if "image_url" in types:
        return "the endpoint rejects image content: is it a vision model?"
    if "input_audio" in types:
        return "the endpoint rejects audio content (input_audio): is it an audio model?"
    return "check the model name, the endpoint and the server's log"


def _request_strings(value) -> list[str]:
    """Every string in a request's messages (prompt texts, data URLs)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _request_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _request_strings(item)]
    return []


_ECHO_START = re.compile(r"[{]|\[\s*[{\"']|\b(?:request\s+body|request|body|payload|messages|prompt)\s*[:=]",
                         re.IGNORECASE)


def error_summary(raw: bytes, payload: dict) -> str:
    """A short, prompt-free summary of a server's error message: the OpenAI-style ``error.message``
    (or ``error``), cut where it starts echoing the request (JSON, "request:"/"messages=" labels, any
    prompt text or data URL of ``payload``) and capped at ``SUMMARY_CHARS``; "" when there is none.
    Some servers echo the whole request, media included, in their error body."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"non-JSON error body ({len(raw)} bytes)" if raw.strip() else ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message.strip():
        return ""
    message = " ".join(message.split())
    cuts = [len(message)]
    match = _ECHO_START.search(message)
    if match:
        cuts.append(match.start())
    for text in _request_strings(payload.get("messages")):
        probe = " ".join(text.split())[:24]
        if len(probe) >= 8 and probe in message:
            cuts.append(message.index(probe))
    summary = message[:min(cuts)].rstrip(" :;,-=(")
    return summary[:SUMMARY_CHARS] + ("..." if len(summary) > SUMMARY_CHARS or min(cuts) < len(message) else "")
