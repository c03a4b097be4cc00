"""One way to read an lm-eval ``generate_until`` request, shared by every model wrapper."""
from __future__ import annotations

from dataclasses import dataclass

from mmpriv_tasks.inputs.media import doc_failure


@dataclass(frozen=True)
class Request:
    """What a wrapper needs from one lm-eval request."""

    sample: str  # "<task>/<doc id>": the id in log lines and error messages (never the prompt)
    context: str
    gen_kwargs: dict
    media: dict  # {"visual": [...], "audio": [...]}; {} when the task sends none
    failure: str | None  # why the doc's media cannot be used (then nothing reaches the model)


def sample_id(request, index: int) -> str:
    """``"<task>/<doc id>"`` of ``request`` (the ``index``-th of its batch), without reading its doc."""
    doc_id = getattr(request, "doc_id", None)
    return f"{getattr(request, 'task_name', None) or 'task'}/{index if doc_id is None else doc_id}"


def unpack(request, index: int) -> Request:
    """``request`` (the ``index``-th of its batch) as a :class:`Request`."""
    context, gen_kwargs, *rest = request.args
    return Request(sample=sample_id(request, index), context=context, gen_kwargs=dict(gen_kwargs or {}),
                   media=rest[0] if rest and isinstance(rest[0], dict) else {},
                   failure=doc_failure(getattr(request, "doc", None)))


def share_repeated(requests) -> None:
    """Point each request's prompt and generation settings at the first equal ones in ``requests``.

    lm-eval renders the prompt and copies the task's generation settings for every request and keeps
    every request until the run ends; a task whose prompt does not depend on the doc (HearSay) then
    holds one copy per clip. The values are equal, so what the model gets and the sample log records
    are unchanged; every wrapper calls this once per ``generate_until``."""
    prompts: dict[str, str] = {}
    settings: dict[str, dict] = {}
    for request in requests:
        arguments = request.arguments
        if not (isinstance(arguments, tuple) and len(arguments) >= 2 and isinstance(arguments[0], str)):
            continue
        context, gen_kwargs, *rest = arguments
        if isinstance(gen_kwargs, dict):
            first = settings.setdefault(repr(gen_kwargs), gen_kwargs)
            gen_kwargs = first if first == gen_kwargs else gen_kwargs
        request.arguments = (prompts.setdefault(context, context), gen_kwargs, *rest)
