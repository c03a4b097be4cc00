"""Per-sample failures travel out of band, never as model answers.

A model wrapper that cannot answer a request (network, media, generation failure) returns
``format_error(...)`` instead of text: a :class:`ModelError`, a ``str`` subclass that lm-eval carries
to ``process_results`` (and pickles into its ``--use_cache`` database) like any reply, but that no
model reply is. Scoring recognises it with ``parse_error`` by its *type* and records an error flag
for that sample instead of a leak/refusal/accuracy decision. A reply whose text starts with
``ERROR_TAG`` is a plain ``str``: a model answer, scored as one (it cannot hide its own leak).
"""
from __future__ import annotations

ERROR_TAG = "<<mmpriv-error>>"


class MediaError(ValueError):
    """An image or audio input that cannot be decoded; the message names the sample."""


class InputError(ValueError):
    """A problem with what the user passed (arguments, data files): reported as one line, exit code 2."""


class DataError(InputError):
    """A dataset fault found before any model call; the message names the file, the problem and a fix."""


class ModelError(str):
    """A failed request in place of a reply; its text (``ERROR_TAG kind: message``) is what sample
    logs show."""

    __slots__ = ()


def format_error(kind: str, message: str) -> ModelError:
    """The response a wrapper returns for a failed request."""
    return ModelError(f"{ERROR_TAG} {kind}: {message}")


def parse_error(response) -> str | None:
    """The error description carried by ``response``, or None for a real answer (any ``str`` that
    is not a :class:`ModelError`, whatever its text). ``None`` is no reply at all: the form a failed
    request takes where types do not travel (``evaluate`` metrics, JSON)."""
    if response is None:
        return "no reply"
    if isinstance(response, ModelError):
        return response.removeprefix(ERROR_TAG).strip()
    return None
