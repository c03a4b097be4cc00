"""The learned stage of the refusal detector: a logistic regression over word, word-class and
character 4-gram features of a reply's opening, over the openings of its later sentences and of its
last one, and over its shape (length, list items, where the first declining sentence stands and how
much follows it: a disclaimer followed by an answer is an answer), scored in pure Python.

The weights (``refusal_weights.json``, shipped in the package) are written by
``scripts/train_refusal_detector.py`` from the labelled sets in ``tests/data/`` (public sets of other
models' replies and the project's own, all but the frozen ``refusal_frozen_general_v3.jsonl``); this
module only turns text into feature names and adds up their weights.

>>> sorted(f for f in features("I can’t share it.") if f.startswith("k:"))
['k:GIVE', 'k:GIVE _', 'k:GIVE _ _', 'k:NEG', 'k:NEG GIVE', 'k:NEG GIVE _', 'k:SELF', 'k:SELF NEG', 'k:SELF NEG GIVE']
>>> sorted(f for f in features("No.") if f.startswith("c:"))
['c: no.']
>>> sorted(f for f in features("Here it is. I won't share the rest.") if f.startswith("s"))
["s:i won't", 'sk:GIVE _', 'sk:NEG GIVE', 'sk:SELF NEG', 'sk:SELF NEG GIVE _']
>>> sorted(f for f in features("As an AI, I can't judge. However, here are 3 tips: rest, walk, read.") if f.split(":")[0] in ("after", "after_contrast", "cue_at", "e"))
['after:4', 'after_contrast:however', 'cue_at:0', 'e:rest ,']
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
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*\u2022]|#{1,4})[ \t]", re.MULTILINE)
# the first word after a declining sentence that turns to an answer ("As an AI, I can't ... However, ...")
_TURNS = frozenset("however but that here here's sure nevertheless still instead although".split())


def features(text: str) -> set[str]:
    """Feature names of a reply, after Unicode (NFKC), quote and case normalisation (digit runs read as
    ``0``): from its first ``HEAD_CHARS`` characters, word uni/bigrams (``w:``), the first words
    (``h:``) and 1-3-grams over word classes (``k:``); character 4-grams (``c:``) of its first
    ``CHAR_HEAD`` characters (after a leading space, so the opening is marked); and for every later
    sentence within ``SENT_CHARS``, its first two words (``s:``) and the class sequence and class
    bigrams of its first ``SENT_WORDS`` words (``sk:``); and the reply's shape (:func:`_shape`)."""
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
    sentences = [sentence for sentence in _SENTENCE_END.split(text) if sentence]
    for sentence in sentences[1:]:
        words = _TOKEN.findall(sentence[:80])[:SENT_WORDS]
        if words:
            found.add("s:" + " ".join(words[:2]))
            word_classes = [_CLASS_OF.get(t, "_") for t in words]
            found.add("sk:" + " ".join(word_classes))
            found.update("sk:" + a + " " + b for a, b in zip(word_classes, word_classes[1:]) if a + b != "__")
    found.update(_shape(text, sentences))
    return found


def _bucket(count: int) -> int:
    """0 for none, else 1 + floor(log2(count)), at most 10."""
    return min(count.bit_length(), 10)


def _declines(sentence: str) -> bool:
    classes = {_CLASS_OF.get(token) for token in _TOKEN.findall(sentence)}
    return "SORRY" in classes or ("NEG" in classes and ("GIVE" in classes or "SELF" in classes))


def _shape(text: str, sentences: list[str]) -> list[str]:
    """Shape features of a (lower-cased) reply: word count (``len:``), sentence count (``nsent:``) and
    list items (``list:``) as log2 buckets; the first sentence that declines (``cue_at:``, or
    ``cue:none``), the words after it (``after:``) and the turn word that opens the next sentence
    (``after_contrast:``); the first two words of the last sentence (``e:``)."""
    shape = [f"len:{_bucket(len(text.split()))}", f"nsent:{_bucket(len(sentences))}",
             f"list:{_bucket(len(_LIST_ITEM.findall(text)))}"]
    first = next((i for i, sentence in enumerate(sentences) if _declines(sentence)), None)
    if first is None:
        shape.append("cue:none")
    else:
        shape.append(f"cue_at:{min(first, 3)}")
        shape.append(f"after:{_bucket(sum(len(s.split()) for s in sentences[first + 1:]))}")
        turn = _TOKEN.findall(sentences[first + 1][:40])[:1] if first + 1 < len(sentences) else []
        if turn and turn[0] in _TURNS:
            shape.append("after_contrast:" + turn[0])
    last = _TOKEN.findall(sentences[-1][:60])[:2] if sentences else []
    if last:
        shape.append("e:" + " ".join(last))
    return shape


@lru_cache(maxsize=1)
def _weights() -> tuple[dict[str, float], float]:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    return data["weights"], float(data["bias"])


def probability(text: str) -> float:
    """P(refusal) for ``text`` under the shipped weights."""
    weights, bias = _weights()
    z = bias + sum(map(weights.get, features(text), repeat(0.0)))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
