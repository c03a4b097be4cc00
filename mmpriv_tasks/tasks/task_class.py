"""The task class of our task templates (``class: !function mmpriv_tasks.tasks.task_class.PrivacyTask``):
lm-eval's ``ConfigurableTask`` with its prompt template compiled once.

lm-eval renders a Jinja ``doc_to_text`` with ``utils.apply_template``, which compiles the template again
for every doc: 0.5 ms for an upstream prompt, fifty times the render itself, so most of the CPU that
building a request costs (11 minutes over HearSay's 700k requests). :class:`PrivacyTask` compiles each
distinct template once, in lm-eval's own Jinja environment (the same filters, so the same text:
the registry's prompt pins hold), and renders it per doc; everything else is lm-eval's.
"""
from __future__ import annotations

import ast
from functools import lru_cache

from lm_eval import utils
from lm_eval.api.task import ConfigurableTask


@lru_cache(maxsize=256)
def compiled(template: str):
    """``template`` compiled in lm-eval's Jinja environment (once per distinct string)."""
    return utils.env.from_string(template)


class PrivacyTask(ConfigurableTask):
    """``ConfigurableTask`` whose Jinja ``doc_to_text`` is compiled once (see the module docstring)."""

    def __init__(self, config: dict | None = None, **kwargs) -> None:
        # lm-eval hands a YAML-declared class its whole config, `class` key included
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def doc_to_text(self, doc, doc_to_text=None):
        template = self.config.doc_to_text if doc_to_text is None else doc_to_text
        if self.prompt is not None or not isinstance(template, str) or template in getattr(self, "features", ()):
            return super().doc_to_text(doc, doc_to_text)  # promptsource, hooks, columns: lm-eval's way
        text = compiled(template).render(**doc)
        # lm-eval's own step after rendering: a digit string indexes the choices of a multiple-choice task
        return ast.literal_eval(text) if text.isdigit() and self._config.doc_to_choice is not None else text
