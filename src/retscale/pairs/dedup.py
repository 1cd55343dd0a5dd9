"""When is a candidate negative "the same passage" as a positive?

- *exact duplicate*: equal normalised text, where normalising = lower-case, every run of non-alphanumeric
  characters → one space, trimmed (so punctuation, case and whitespace differences do not count);
- *near duplicate*: one normalised text contains the other (a positive that is a chunk of a longer pool passage,
  or the reverse), or the Jaccard similarity of their word sets is ≥ ``NEAR_DUP_JACCARD`` (0.8).
"""

from __future__ import annotations

import hashlib
import re

NEAR_DUP_JACCARD = 0.8
_NON_ALNUM = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def text_hash(text: str) -> str:
    """Hash of the normalised text: equal hashes = exact duplicates."""
    return hashlib.sha1(normalise(text).encode("utf-8")).hexdigest()[:16]


class DupKey:
    """What the duplicate rules need from one passage (normalised text, its hash, its unique-word count)."""

    __slots__ = ("hash", "n_unique", "norm")

    def __init__(self, text: str) -> None:
        self.norm = normalise(text)
        self.hash = hashlib.sha1(self.norm.encode("utf-8")).hexdigest()[:16]
        self.n_unique = len(set(self.norm.split()))

    def duplicates(self, other: DupKey) -> bool:
        """Exact or near duplicate (see module docstring)."""
        if self.hash == other.hash:
            return True
        short, long_ = (self.norm, other.norm) if len(self.norm) <= len(other.norm) else (other.norm, self.norm)
        if short and short in long_:
            return True
        small, large = sorted((self.n_unique, other.n_unique))
        # Jaccard ≤ small/large, so most pairs are ruled out without building word sets.
        if large == 0 or small / large < NEAR_DUP_JACCARD:
            return False
        a, b = set(self.norm.split()), set(other.norm.split())
        return len(a & b) / len(a | b) >= NEAR_DUP_JACCARD
