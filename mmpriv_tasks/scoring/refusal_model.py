"""The learned stage of the refusal detector: a logistic regression over word, word-class and
character 4-gram features of a reply's opening, over the openings of its later sentences and of its
last one, and over its shape and structure (length, list items, paragraphs, where the first declining
sentence stands, how many content words follow the last one: a disclaimer followed by an answer is an
answer), scored in pure Python.

The weights (``refusal_weights.json``, shipped in the package) are written by
``scripts/train_refusal_detector.py`` from the labelled sets in ``tests/data/`` (public sets of other
models' replies and the project's own, all but the frozen ``refusal_frozen_general_v3.jsonl``); this
module only turns text into features (one tokenisation pass) and adds up their weights, looked up per
family so no feature name is built at inference.

>>> sorted(f for f in features("I can’t share it.") if f.startswith("k:"))
['k:GIVE', 'k:GIVE _', 'k:GIVE _ _', 'k:NEG', 'k:NEG GIVE', 'k:NEG GIVE _', 'k:SELF', 'k:SELF NEG', 'k:SELF NEG GIVE']
>>> sorted(f for f in features("No.") if f.startswith("c:"))
['c: no.']
>>> sorted(f for f in features("Here it is. I won't share the rest.") if f.split(":")[0] in ("s", "sk", "seq", "tail"))
["s:i won't", 'seq:CD', 'sk:GIVE _', 'sk:NEG GIVE', 'sk:SELF NEG', 'sk:SELF NEG GIVE _', 'tail:0']
>>> sorted(f for f in features("As an AI, I can't judge. However, here are 3 tips: rest, walk, read.") if f.split(":")[0] in ("after", "after_contrast", "cue_at", "e", "seq", "tail"))
['after:4', 'after_contrast:however', 'cue_at:0', 'e:rest ,', 'seq:DC+', 'tail:4']
>>> sorted(f for f in features("I can't help.\\n\\nSure. First, buy a map.") if f.startswith("para:"))
['para:2']
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
    "OFFER": "free happy glad questions else further",
    "NUM": "0",
    "Q": "?",
}
_CLASS_OF = {word: name for name, words in _CLASSES.items() for word in words.split()}
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|0|[^\w\s]")
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|0|[^\w\s]|\n")  # _WORD, and line breaks (sentence and paragraph ends)
_BOUNDARY = frozenset(".!?;:\n")
_LIST_ITEM = re.compile(r"^[ \t]*(?:0[.)]|[-*\u2022]|#{1,4})[ \t]", re.MULTILINE)
# the first word after a declining sentence that turns to an answer ("As an AI, I can't ... However, ...")
_TURNS = frozenset("however but that here here's sure nevertheless still instead although".split())
# words of sentences that carry no answer: lecturing, redirecting, offering further help
_NOT_CONTENT = frozenset({"MORAL", "ALT", "OFFER", "SORRY", "AI", "PRIV"})


def _sentences(tokens: list[str]) -> tuple[list[list[str]], int]:
    """The reply's sentences as token lists (split at ``. ! ? ; :`` and line breaks), and its paragraph
    count (paragraphs end at an empty line)."""
    sentences, current, paragraphs, previous = [], [], 1, ""
    for token in tokens:
        if token in _BOUNDARY:
            if current:
                sentences.append(current)
                current = []
            if token == "\n" == previous and sentences:
                paragraphs += 1
                previous = ""
                continue
        else:
            current.append(token)
        previous = token
    if current:
        sentences.append(current)
    return sentences, paragraphs


_FAMILIES = frozenset(("w", "h", "k", "c", "s", "sk"))


def groups(text: str) -> dict[str, set[str]]:
    """A reply's features by family (family -> names), after Unicode (NFKC), quote and case
    normalisation (digit runs read as ``0``): from its first ``HEAD_CHARS`` characters, word uni/bigrams
    (``w``), the first words (``h``) and 1-3-grams over word classes (``k``); character 4-grams (``c``) of
    its first ``CHAR_HEAD`` characters (after a leading space, so the opening is marked); for every later
    sentence within ``SENT_CHARS``, its first two words (``s``) and the class sequence and class bigrams
    of its first ``SENT_WORDS`` words (``sk``); and the reply's shape and structure (``x``, :func:`_shape`)."""
    text = text[:SENT_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _DIGITS.sub("0", text.lower())
    head = text[:HEAD_CHARS]
    tokens = _WORD.findall(head)
    bigrams = [a + " " + b for a, b in zip(tokens, tokens[1:])]
    classes = [_CLASS_OF.get(t, "_") for t in tokens]
    class_bigrams = [a + " " + b for a, b in zip(classes, classes[1:])]
    class_trigrams = [a + " " + b for a, b in zip(class_bigrams, classes[2:])]
    found = {"w": {*tokens, *bigrams}, "h": {*tokens[:HEAD_WORDS], *bigrams[:HEAD_WORDS - 1]},
             "k": {*classes, *class_bigrams, *class_trigrams} - {"_", "_ _", "_ _ _"}}
    chars = " " + head[:CHAR_HEAD]
    found["c"] = {chars[i:i + 4] for i in range(len(chars) - 3)}
    sentences, paragraphs = _sentences(_TOKEN.findall(text))
    s, sk = set(), set()
    for words in sentences[1:]:
        s.add(" ".join(words[:2]))
        word_classes = [_CLASS_OF.get(t, "_") for t in words[:SENT_WORDS]]
        sk.add(" ".join(word_classes))
        sk.update(a + " " + b for a, b in zip(word_classes, word_classes[1:]) if a + b != "__")
    found["s"], found["sk"] = s, sk
    found["x"] = _shape(text, sentences, paragraphs)
    return found


def features(text: str) -> set[str]:
    """Feature names of a reply (``family:name``, families of :func:`groups`); shape and structure
    features carry their own prefix."""
    return {name if family == "x" else f"{family}:{name}" for family, names in groups(text).items() for name in names}


def _bucket(count: int) -> int:
    """0 for none, else 1 + floor(log2(count)), at most 10."""
    return min(count.bit_length(), 10)


def _kind(words: list[str]) -> str:
    """``D``: the sentence declines; ``N``: it lectures, redirects, apologises or offers help (no answer);
    ``C``: anything else (content)."""
    classes = {_CLASS_OF.get(token) for token in words}
    if "SORRY" in classes or ("NEG" in classes and ("GIVE" in classes or "SELF" in classes)):
        return "D"
    return "N" if classes & _NOT_CONTENT else "C"


def _shape(text: str, sentences: list[list[str]], paragraphs: int) -> set[str]:
    """Shape features of a (lower-cased) reply: word count (``len:``), sentence count (``nsent:``) and
    list items (``list:``) as log2 buckets; the first sentence that declines (``cue_at:``, or
    ``cue:none``), the words after it (``after:``) and the turn word that opens the next sentence
    (``after_contrast:``); the first two words of the last sentence (``e:``). Structure: each sentence's
    kind (:func:`_kind`), the words of content sentences after the last declining one (``tail:``: an
    answer after a disclaimer), the kinds of the first sentences (``seq:``, runs collapsed) and the
    paragraph count (``para:``)."""
    kinds = [_kind(words) for words in sentences]
    shape = {f"len:{_bucket(sum(map(len, sentences)))}", f"nsent:{_bucket(len(sentences))}",
             f"list:{_bucket(len(_LIST_ITEM.findall(text)))}", f"para:{min(paragraphs, 6)}"}
    if "D" not in kinds:
        shape.update(("cue:none", "tail:none"))
    else:
        first, last = kinds.index("D"), len(kinds) - 1 - kinds[::-1].index("D")
        shape.add(f"cue_at:{min(first, 3)}")
        shape.add(f"after:{_bucket(sum(map(len, sentences[first + 1:])))}")
        if first + 1 < len(sentences) and sentences[first + 1][0] in _TURNS:
            shape.add("after_contrast:" + sentences[first + 1][0])
        shape.add(f"tail:{_bucket(sum(len(w) for w, k in zip(sentences[last + 1:], kinds[last + 1:]) if k == 'C'))}")
    shape.add("seq:" + re.sub(r"(.)\1+", r"\1+", "".join(kinds[:6])))
    if sentences:
        shape.add("e:" + " ".join(sentences[-1][:2]))
    return shape


@lru_cache(maxsize=1)
def _weights() -> tuple[dict[str, dict[str, float]], float]:
    """The shipped weights by family (:func:`groups`), and the bias."""
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    by_family: dict[str, dict[str, float]] = {}
    for name, weight in data["weights"].items():
        family, _, rest = name.partition(":")
        if family in _FAMILIES:
            by_family.setdefault(family, {})[rest] = weight
        else:
            by_family.setdefault("x", {})[name] = weight
    return by_family, float(data["bias"])


def probability(text: str) -> float:
    """P(refusal) for ``text`` under the shipped weights."""
    weights, bias = _weights()
    z = bias
    for family, names in groups(text).items():
        table = weights.get(family)
        if table:
            z += sum(map(table.get, names, repeat(0.0)))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
