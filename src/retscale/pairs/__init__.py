"""Training pairs: the canonical jsonl format and its readers (``formats``), Wikipedia builders (``wiki``),
statistics (``stats``), duplicate rules (``dedup``) and BEIR-overlap checks (``overlap``)."""

from retscale.pairs.formats import read_pairs, write_pairs

__all__ = ["read_pairs", "write_pairs"]
