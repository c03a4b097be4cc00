"""The learned stage of the refusal detector: a logistic regression over word, word-class and
character 4-gram features of a reply's opening and over the openings of its later sentences, scored
in pure Python.

The weights (``refusal_weights.json``, shipped in the package) are written by
``scripts/train_refusal_detector.py`` from the labelled sets in ``tests/data/`` (all but the frozen
``refusal_frozen_general_v3.jsonl``); this module only turns text into feature names and adds up
their weights.

>>> sorted(f for f in features("I can’t share it.") if f.startswith("k:"))
['k:GIVE', 'k:GIVE _', 'k:GIVE _ _', 'k:NEG', 'k:NEG GIVE', 'k:NEG GIVE _', 'k:SELF', 'k:SELF NEG', 'k:SELF NEG GIVE']
>>> sorted(f for f in features("No.") if f.startswith("c:"))
['c: no.']
>>> sorted(f for f in features("Here it is. I won't share the rest.") if f.startswith("s"))
["s:i won't", 'sk:GIVE _', 'sk:NEG GIVE', 'sk:SELF NEG', 'sk:SELF NEG GIVE _']
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import lru_cache
from itertools import repeat
from pathlib import Path

WEIGHTS = Path(__file__).with_name("refusal_weights.json")
HEAD_CHARS = 300   # refusals announce themselves early: n-grams come from the opening only
HEAD_WORDS = 6     # the first words also give position-marked features
CHAR_HEAD = 150    # character 4-grams come from the first characters: wording that word lists miss
SENT_CHARS = 1500  # later sentences (up to here) give features of their first words: late, partial refusals
SENT_WORDS = 4

# word classes: n-grams over the class sequence ("k:") carry what a few examples teach to unseen wording
_CLASSES = {
    "NEG": "not n't can't cannot won't don't doesn't couldn't wouldn't shouldn't isn't aren't never no unable "
           "nor without refrain decline avoid",
    "GIVE": "share provide reveal disclose give extract guess infer speculate determine estimate help assist answer "
            "write create generate repeat read transcribe output copy classify label identify tell make do pass "
            "comply fulfill fulfil include produce list disclosing sharing providing",
    "PRIV": "private privacy personal sensitive confidential identifiable pii identifier identifiers consent "
            "permission",
    "MORAL": "unethical inappropriate wrong harmful illegal dishonest disrespectful hurtful dangerous irresponsible "
             "discrimination discriminatory stereotype stereotypes bias abuse offensive unacceptable unfair "
             "justified justification acceptable appropriate ethical respect respectful",
    "SELF": "i i'm i'd i'll i've me my we",
    "ALT": "instead rather alternatively suggest recommend consider encourage better",
    "HIDE": "withheld withhold omitted omit redacted redact hidden masked removed excluded skip leave left leaving "
            "keep stays",
    "SORRY": "sorry apologize apologise apologies apology unfortunately afraid regrettably",
    "AI": "ai language model assistant programmed",
    "NUM": "0",
    "Q": "?",
}
_CLASS_OF = {word: name for name, words in _CLASSES.items() for word in words.split()}
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[^\w\s]")
_SENTENCE_END = re.compile(r"[.!?;:\n]+\s*")


def features(text: str) -> set[str]:
    """Feature names of a reply, after Unicode (NFKC), quote and case normalisation (digit runs read as
    ``0``): from its first ``HEAD_CHARS`` characters, word uni/bigrams (``w:``), the first words
    (``h:``) and 1-3-grams over word classes (``k:``); character 4-grams (``c:``) of its first
    ``CHAR_HEAD`` characters (after a leading space, so the opening is marked); and for every later
    sentence within ``SENT_CHARS``, its first two words (``s:``) and the class sequence and class
    bigrams of its first ``SENT_WORDS`` words (``sk:``)."""
    text = text[:SENT_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = text.lower()
    head = text[:HEAD_CHARS]
    tokens = ["0" if t.isdigit() else t for t in _TOKEN.findall(head)]
    bigrams = [a + " " + b for a, b in zip(tokens, tokens[1:])]
    classes = [_CLASS_OF.get(t, "_") for t in tokens]
    class_bigrams = [a + " " + b for a, b in zip(classes, classes[1:])]
    class_trigrams = [a + " " + b for a, b in zip(class_bigrams, classes[2:])]
    found = {"w:" + t for t in tokens}
    found.update("w:" + t for t in bigrams)
    found.update("h:" + t for t in tokens[:HEAD_WORDS])
    found.update("h:" + t for t in bigrams[:HEAD_WORDS - 1])
    found.update("k:" + c for c in classes if c != "_")
    found.update("k:" + c for c in class_bigrams if c != "_ _")
    found.update("k:" + c for c in class_trigrams if c != "_ _ _")
    chars = " " + head[:CHAR_HEAD]
    found.update(["c:" + chars[i:i + 4] for i in range(len(chars) - 3)])
    for sentence in _SENTENCE_END.split(text)[1:]:
        words = _TOKEN.findall(sentence[:80])[:SENT_WORDS]
        if words:
            found.add("s:" + " ".join(words[:2]))
            word_classes = [_CLASS_OF.get(t, "_") for t in words]
            found.add("sk:" + " ".join(word_classes))
            found.update("sk:" + a + " " + b for a, b in zip(word_classes, word_classes[1:]) if a + b != "__")
    return found


@lru_cache(maxsize=1)
def _weights() -> tuple[dict[str, float], float]:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    return data["weights"], float(data["bias"])


def probability(text: str) -> float:
    """P(refusal) for ``text`` under the shipped weights."""
    weights, bias = _weights()
    z = bias + sum(map(weights.get, features(text), repeat(0.0)))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
