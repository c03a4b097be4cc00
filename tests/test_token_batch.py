"""The batch scorer's numpy tokeniser and lookup table against their definitions: the token pattern's
own matches and a dict."""
import random

import numpy as np
import pytest

from mmpriv_tasks.scoring import refusal_model, token_batch
from test_refusal_corpus import awkward_replies


@pytest.mark.parametrize("group_chars", [token_batch.GROUP_CHARS, 50, 1])
def test_tokens_are_the_patterns_matches_looked_up_in_the_vocabulary(group_chars, monkeypatch):
    """Every token of every awkward reply (and of replies joined end to end, where a word, an apostrophe
    or a contraction meets the next reply), in order, with its reply; the same when the replies are
    tokenised in groups of a few characters."""
    monkeypatch.setattr(token_batch, "GROUP_CHARS", group_chars)
    scorer = refusal_model._scorer()
    texts = [refusal_model._normalise(text) for text in awkward_replies()]
    texts += ["don", "'t", "can'", "t", "a'b'c'd'e", "'tis", "x''y", "rock'n'roll", "", "0'a", "é'a", "b'"]
    numbers, owners = scorer.tokeniser.numbers(texts)
    want = [(scorer.vocab.get(token, 0), index) for index, text in enumerate(texts)
            for token in refusal_model._TOKEN.findall(text)]
    assert list(zip(numbers.tolist(), owners.tolist())) == want
    assert sum(number > 0 for number, _ in want) > len(want) / 2  # most tokens are known: the lookup is tried


def test_a_token_whose_hash_is_taken_by_a_longer_one_is_not_found():
    tokeniser = token_batch.Tokeniser(np, {"abc": 1, ".": 2}, refusal_model._kind_of)
    tokeniser.lookup = token_batch.Lookup(np, {token_batch.token_hash("abc"): 1, token_batch.token_hash("ab"): 1,
                                               token_batch.token_hash("."): 2})
    assert tokeniser.numbers(["ab abc ."])[0].tolist() == [0, 1, 2]


def test_lookup_finds_every_key_and_nothing_else():
    rng = random.Random(7)
    table = {rng.getrandbits(64): number for number in range(1, 5001)}
    lookup = token_batch.Lookup(np, table)
    assert lookup.probes > 1  # some keys share a slot: probing is exercised
    absent = [key + 1 for key in table if key + 1 not in table][:500]
    keys = np.array([*table, *absent], np.uint64)
    assert lookup.find(keys).tolist() == [*table.values(), *[0] * len(absent)]
    assert token_batch.Lookup(np, {}).find(np.array([0, 5], np.uint64)).tolist() == [0, 0]


def test_lookup_probes_wrap_from_the_last_slot_to_the_first():
    """Keys whose slot is the table's last: the second one probes on to slot 0."""
    bits = token_batch.Lookup(np, {1: 1, 2: 2, 3: 3}).mask.bit_length()  # the table size of three keys
    inverse_mix = pow(token_batch._MIX, -1, 1 << 64)
    last = [((((1 << bits) - 1) << (64 - bits)) + offset) * inverse_mix % (1 << 64) for offset in (0, 1)]
    lookup = token_batch.Lookup(np, {last[0]: 1, last[1]: 2, 3: 3})
    assert lookup.probes == 2
    assert lookup.find(np.array([last[1], last[0], 3, 4], np.uint64)).tolist() == [2, 1, 3, 0]


@pytest.mark.parametrize("texts", [["a", ".", "b"], ["\x80", "ok"], ["\x80\x81"]])
def test_a_new_tokeniser_reads_its_first_batch_right(texts):
    """The first batch a tokeniser sees may hold only one-character texts (the power tables start empty)
    or, as its only code points past ASCII, the first ones (the kind table's edge)."""
    vocab = {"a": 1, ".": 2, "ok": 3, "\x80": 4}
    tokeniser = token_batch.Tokeniser(np, vocab, refusal_model._kind_of)
    numbers, owners = tokeniser.numbers(texts)
    want = [(vocab.get(token, 0), index) for index, text in enumerate(texts)
            for token in refusal_model._TOKEN.findall(text)]
    assert list(zip(numbers.tolist(), owners.tolist())) == want
