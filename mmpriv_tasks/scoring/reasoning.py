"""A reasoning model's answer without its reasoning.

Reasoning models (DeepSeek-R1, QwQ, Qwen3 and the Qwen3-VL / Qwen3-Omni thinking variants, Kimi-VL-Thinking,
GLM-4.1V-Thinking, ...) served without a reasoning parser write their reasoning into the reply, inside
``<think>...</think>`` (or ``<thinking>``, ``<reasoning>``; a chat template that opens the block itself
leaves only the closing tag), and may wrap the answer in ``<answer>...</answer>``. The reasoning
weighs options ("the voice could be male or female ...") and privacy ("sharing it could violate privacy
..."), so labels, refusals and control answers are read from the answer alone: :func:`final_answer`.
Leaks, and values of the asked PII kind, are read from the whole reply: a value written while reasoning
was written out all the same.

>>> final_answer("<think>Could be male or female; the pitch is high.</think>\\n\\nFemale")
'Female'
>>> final_answer("The pitch is high, so female.</think> <answer>Female</answer>")
'Female'
>>> final_answer("<think>The form shows the e-mail, but")  # ran out of tokens while reasoning
''
>>> final_answer("Female")
'Female'
"""
from __future__ import annotations

import re

_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)
_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)


def final_answer(text: str) -> str:
    """``text`` after its last closing reasoning tag (the answer inside ``<answer>`` tags, when it has
    them), stripped; ``""`` when a reasoning block opens and never closes; ``text`` unchanged when it holds
    no reasoning tag."""
    if "<" not in text:  # most replies: one substring scan
        return text
    closes = list(_CLOSE.finditer(text))
    if not closes and _OPEN.search(text):
        return ""
    rest = text[closes[-1].end():] if closes else text
    answer = _ANSWER.search(rest)
    if answer:
        return answer.group(1).strip()
    return rest.strip() if closes else text
