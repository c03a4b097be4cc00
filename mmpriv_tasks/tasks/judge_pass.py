"""An lm-eval filter that gets a task's LLM-judge verdicts in one concurrent pass before scoring.

lm-eval scores one sample at a time (``process_results``), but applies a task's filters to all of
its replies at once, just before. :class:`JudgePass` uses that moment: it runs the task's own
``process_results`` over every reply with the judge in collecting mode (nothing is sent; each
judge call is recorded), sends the recorded requests together (up to the judge's
``num_concurrent``, with its retries, cache and error accounting), and keeps the verdicts. The
replies pass through unchanged; ``process_results`` then finds every verdict it asks for.
In every mode it first scores all replies with the offline detector at once
(:func:`~mmpriv_tasks.scoring.refusal.prime`, numpy; the per-sample calls then look them up); offline
scoring (``MMPRIV_REFUSAL_MODE`` unset or ``offline``) sends no judge request, and warns with a count when
replies are not in English (the detector decides those by a wording rule only).

Task YAML (after ``take_first``, so each reply is one string; the filter name ``none`` keeps
metric keys ``<metric>,none``)::

    filter_list:
      - name: none
        filter:
          - function: take_first
          - function: !function mmpriv_tasks.tasks.judge_pass.JudgePass
            score: !function mmpriv_tasks.tasks.hearsay.process_results

``score`` must be the task's ``process_results``: a variant that changes one changes both.
"""
from __future__ import annotations

import logging
from typing import Callable

from lm_eval.api.filter import Filter

from mmpriv_tasks.scoring.judge import collect_requests, for_sample
from mmpriv_tasks.scoring.reasoning import final_answer
from mmpriv_tasks.scoring.refusal import prime
from mmpriv_tasks.scoring.refusal_modes import refusal_mode
from mmpriv_tasks.scoring.reply_language import language

log = logging.getLogger(__name__)


def warn_other_languages(replies: list) -> None:
    """Warn (a count, no text) when offline scoring meets replies whose answer (without a reasoning block)
    is not in English."""
    answers = [final_answer(reply) for reply in replies if isinstance(reply, str)]
    other = sum(bool(answer.strip()) and language(answer) != "en" for answer in answers)
    if other:
        log.warning("%d of %d replies are not in English: offline, the refusal detector decides them by a "
                    "wording rule only (mmpriv_tasks/scoring/reply_language.py); MMPRIV_REFUSAL_MODE=hybrid "
                    "sends them to the judge", other, len(replies))


class JudgePass(Filter):
    """Prefetches the judge verdicts that ``score`` (the task's ``process_results``) will ask for."""

    def __init__(self, score: Callable[[dict, list], dict], **kwargs) -> None:
        super().__init__(**kwargs)
        self.score = score

    def apply(self, resps, docs):
        resps = list(resps)
        prime(resps)
        if refusal_mode() == "offline":
            warn_other_languages(resps)
            return resps
        with collect_requests() as wanted:
            for reply, doc in zip(resps, docs):
                with for_sample(doc.get("id", "?")):
                    self.score(doc, [reply])
        by_judge: dict[int, list] = {}
        for request in wanted:
            by_judge.setdefault(id(request.judge), []).append(request)
        for requests in by_judge.values():
            requests[0].judge.prefetch(requests)
        return resps
