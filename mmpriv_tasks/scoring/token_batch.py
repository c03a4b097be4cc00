"""Many replies' tokens at once in numpy, without a Python string per token: the tokeniser and the
integer lookup table of the refusal detector's batch scorer (:mod:`mmpriv_tasks.scoring.refusal_model`).

Tokens are those of the pattern ``[a-z]+(?:'[a-z]+)?|<one character>``: runs of the letters a-z, two
runs joined by one apostrophe ("don't"; in a chain, "a'b'c", pairs from the left), and tokens of one
character, as a character classifier says. Each token is found in the vocabulary by its polynomial
hash mod 2**64 and its length.
"""
from __future__ import annotations

from typing import Callable

SKIP, LETTER, APOSTROPHE, SINGLE = range(4)  # a character's part in a token
_HASH_BASE = 0x9E3779B97F4A7C15  # odd: invertible mod 2**64
_INVERSE_BASE = pow(_HASH_BASE, -1, 1 << 64)
_MIX = 0xBF58476D1CE4E5B9  # multiplier of the lookup table's slot hash
_BITS = 64
GROUP_CHARS = 1 << 18  # characters tokenised together: bounds the character arrays (about 10 MB)


def token_hash(token: str) -> int:
    """A token's polynomial hash, as :meth:`Tokeniser.numbers` computes it in numpy: the sum of
    (code point + 1) * ``_HASH_BASE`` ** position, mod 2**64."""
    return sum((ord(char) + 1) * pow(_HASH_BASE, at, 1 << _BITS) for at, char in enumerate(token)) % (1 << _BITS)


class Lookup:
    """A read-only map from integer keys (below 2**64) to numbers (0: not found), many keys looked up at
    once: open addressing with linear probing in a table at most a quarter full."""

    def __init__(self, np, table: dict[int, int]):
        self.np = np
        bits = max(4, (4 * len(table)).bit_length())
        self.shift, self.mask = np.uint64(_BITS - bits), (1 << bits) - 1
        keys, numbers = np.zeros(1 << bits, np.uint64), np.zeros(1 << bits, np.int64)
        used = np.zeros(1 << bits, bool)
        self.probes = 1
        for key, number in table.items():
            slot, probe = (key * _MIX % (1 << _BITS)) >> (_BITS - bits), 1
            while used[slot]:
                slot, probe = (slot + 1) & self.mask, probe + 1
            keys[slot], numbers[slot], used[slot] = key, number, True
            self.probes = max(self.probes, probe)
        self.keys, self.numbers, self.used = keys, numbers, used

    def find(self, keys):
        """The number of each key (an integer array; 0: not in the table)."""
        np = self.np
        keys = keys.astype(np.uint64)
        slot = ((keys * np.uint64(_MIX)) >> self.shift).astype(np.int64)
        found = self.numbers[slot]
        hit = self.keys[slot] == keys
        found[~hit] = 0
        pending = np.flatnonzero(~hit & self.used[slot])  # another key holds the slot: probe on
        slot = (slot[pending] + 1) & self.mask
        for _ in range(self.probes - 1):
            if not len(pending):
                break
            hit = self.keys[slot] == keys[pending]
            found[pending[hit]] = self.numbers[slot[hit]]
            going_on = ~hit & self.used[slot]
            pending, slot = pending[going_on], (slot[going_on] + 1) & self.mask
        return found


class Tokeniser:
    """Token numbers of many texts at once, in a vocabulary (token -> number, from 1)."""

    def __init__(self, np, vocab: dict[str, int], kind_of: Callable[[str], int]):
        self.np, self.kind_of = np, kind_of
        self.lookup = Lookup(np, {token_hash(token): number for token, number in vocab.items()})
        self.length = np.zeros(max(vocab.values(), default=0) + 1, np.int64)
        self.length[list(vocab.values())] = [len(token) for token in vocab]
        self.seen = np.zeros(0x110000, bool)  # code points whose kind is known
        self.kinds = np.zeros(0x110000, np.uint8)
        self.kinds[:128] = [kind_of(chr(point)) for point in range(128)]
        self.seen[:128] = True
        self.powers = {False: np.zeros(0, np.uint64), True: np.zeros(0, np.uint64)}

    def numbers(self, texts: list[str]):
        """The number of each token of ``texts`` (0: not in the vocabulary), in order, and each token's
        text (its index). Texts are taken in groups of about ``GROUP_CHARS`` characters, so the
        character arrays stay small whatever the texts' length."""
        np = self.np
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        group = np.cumsum(lengths) // GROUP_CHARS  # a group ends with the text that crosses a multiple
        bounds = np.flatnonzero(np.diff(group, prepend=-1, append=group[-1] + 1 if len(group) else 0))
        numbers, owners = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for first, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            found, owner = self._group(texts[first:stop], lengths[first:stop])
            numbers.append(found)
            owners.append(owner + first)
        return np.concatenate(numbers), np.concatenate(owners)

    def _group(self, texts: list[str], lengths):
        """:meth:`numbers` of one group of texts."""
        np = self.np
        ends = np.cumsum(lengths)
        points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), "<u4")  # little-endian, as encoded
        starts, stops = self._spans(points, ends)
        # hashes weigh a character by its place in its own text: the powers needed are few
        place = np.arange(len(points)) - np.repeat(ends - lengths, lengths)
        longest = int(lengths.max()) if len(lengths) else 0
        prefix = np.zeros(len(points) + 1, np.uint64)
        np.cumsum((points.astype(np.uint64) + np.uint64(1)) * self._powers(longest, False)[place], out=prefix[1:])
        hashes = (prefix[stops] - prefix[starts]) * self._powers(longest, True)[place[starts]]  # wraps mod 2**64
        numbers = self.lookup.find(hashes)
        numbers[self.length[numbers] != stops - starts] = 0  # the same hash, another token
        counts = np.diff(np.searchsorted(starts, ends), prepend=0)
        return numbers, np.repeat(np.arange(len(texts)), counts)

    def _spans(self, points, ends):
        """(start, stop) of every token, in order, in the joined texts (``ends``: where each text ends)."""
        np = self.np
        size = len(points)
        kind = self._kinds(points)
        opens_text = np.zeros(size + 1, bool)
        opens_text[ends - np.diff(ends, prepend=0)] = True
        letter = np.append(kind == LETTER, False)
        previous_letter = np.append(False, letter[:-2])
        run_start = np.flatnonzero(letter[:-1] & (~previous_letter | opens_text[:-1]))
        run_stop = np.flatnonzero(letter[:-1] & (~letter[1:] | opens_text[1:])) + 1
        # a run, an apostrophe and the next run of the same text make one token; in a chain, pairs from the left
        linked = np.flatnonzero((kind[run_stop[:-1]] == APOSTROPHE)  # a run with a run after it stops inside
                                & (run_start[1:] == run_stop[:-1] + 1)
                                & ~opens_text[run_stop[:-1]] & ~opens_text[run_start[1:]])
        chain_start = np.maximum.accumulate(np.where(np.diff(linked, prepend=-2) != 1, np.arange(len(linked)), 0))
        joins = linked[(np.arange(len(linked)) - chain_start) % 2 == 0]  # runs joined with the next
        run_stop[joins] = run_stop[joins + 1]
        heads = np.ones(len(run_start), bool)
        heads[joins + 1] = False
        opens_word = np.zeros(size, bool)
        opens_word[run_start[heads]] = True
        single = (kind == SINGLE) | (kind == APOSTROPHE)
        single[run_start[joins + 1] - 1] = False  # the apostrophe inside a joined token
        starts = np.flatnonzero(opens_word | single)
        stops = starts + 1
        stops[opens_word[starts]] = run_stop[heads]
        return starts, stops

    def _kinds(self, points):
        """Each code point's kind, from a table filled by ``kind_of`` on a code point's first sight."""
        np = self.np
        wide = points[points >= 128]
        if len(wide):
            unseen = np.unique(wide[~self.seen[wide]])
            for point in unseen.tolist():
                self.kinds[point] = self.kind_of(chr(point))
            self.seen[unseen] = True
            return self.kinds[points]
        return self.kinds[:128][points]

    def _powers(self, size: int, inverse: bool):
        """``_HASH_BASE`` (or its inverse mod 2**64) to the powers 0 .. size - 1."""
        np = self.np
        if len(self.powers[inverse]) < size:
            grown = np.full(max(size, 2 * len(self.powers[inverse]), 1024),
                            _INVERSE_BASE if inverse else _HASH_BASE, np.uint64)
            grown[0] = 1
            self.powers[inverse] = np.cumprod(grown)  # wraps mod 2**64
        return self.powers[inverse][:size]
