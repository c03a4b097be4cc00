"""Per-sample failures travel as tagged response strings, never as model answers.

A model wrapper that cannot answer a request (network, media, generation failure) returns
``format_error(...)`` instead of text; scoring recognises the tag with ``parse_error`` and
records an error flag for that sample instead of a leak/refusal/accuracy decision.
"""
from __future__ import annotations

ERROR_TAG = "<<mmpriv-error>>"


class MediaError(ValueError):
    """An image or audio input that cannot be decoded; the message names the sample."""


class InputError(ValueError):
    """A problem with what the user passed (arguments, data files): reported as one line, exit code 2."""


class DataError(InputError):
    """A dataset fault found before any model call; the message names the file, the problem and a fix."""


def format_error(kind: str, message: str) -> str:
    """The response string a wrapper returns for a failed request."""
    return f"{ERROR_TAG} {kind}: {message}"


def parse_error(response: str) -> str | None:
    """The error description carried by ``response``, or None for a real answer."""
    if isinstance(response, str) and response.startswith(ERROR_TAG):
        return response[len(ERROR_TAG):].strip()
    return None
