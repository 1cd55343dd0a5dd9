"""The packed token stream: deterministic batches, epochs beyond the corpus, a disjoint held-out split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retscale.pretrain.corpus import _BROWN_TAG, _pieces, build_corpus
from retscale.pretrain.suite import SUITES


def test_text_cleaning() -> None:
    assert _BROWN_TAG.sub(r"\1", "The/at Fulton/np-tl County/nn-tl said/vbd") == "The Fulton County said"
    text = "\n\n".join(["x" * 1500] * 7)
    pieces = list(_pieces(text, size=4000))
    assert "\n\n".join(pieces) == text and all(len(p) <= 4600 for p in pieces) and len(pieces) == 3


@pytest.mark.slow
def test_batches_epochs_and_heldout(shared_data: Path) -> None:
    spec = SUITES["smoke"]
    corpus = build_corpus(spec.corpus, show_progress=False)
    assert build_corpus(spec.corpus, show_progress=False).root == corpus.root  # cached
    # the character budget is read in source order; held-out test articles and decontaminated documents are read
    # but not kept, so the corpus holds a little less than the budget
    assert 0.8 * spec.corpus.max_chars < corpus.meta["characters"] <= spec.corpus.max_chars
    assert corpus.meta["heldout_tokens"] > spec.eval_sequences * (spec.seq_len + 1)
    assert int(corpus.train.max()) < spec.vocab_size

    b, t = 4, 32
    first = corpus.batch(7, b, t, seed=0)
    assert first.shape == (b, t + 1) and first.dtype == np.int64
    assert np.array_equal(first, corpus.batch(7, b, t, seed=0))
    assert not np.array_equal(first, corpus.batch(7, b, t, seed=1))
    # an epoch is a permutation of all windows; batch rows are those windows; the next epoch reshuffles
    n = corpus.n_windows(t)
    order = corpus._permutation(0, n, 0)
    assert np.array_equal(np.sort(order), np.arange(n))
    row = corpus.batch(1, b, t, seed=0)[2]  # global window index 1·b + 2
    start = int(order[b + 2]) * t
    assert np.array_equal(row, corpus.train[start:start + t + 1])
    assert not np.array_equal(corpus._permutation(1, n, 0), order)
    assert corpus.epochs(n * t * 3, t) == pytest.approx(3.0)
    assert corpus.batch(3 * n // b, b, t, seed=0).shape == (b, t + 1)  # the 4th epoch still yields batches
