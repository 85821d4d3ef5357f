"""Model registry (models.yaml) and loading by Hugging Face hub id, cached once per process."""
import functools
import hashlib
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from ..errors import ModelError, first_line
from ..paths import DRAFTS_DIR, MODELS_YAML, cache_dir

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelSpec:
    key: str
    hub_id: str
    gguf_file: str | None = None
    dtype: str = "float32"
    chat: bool = True
    offline: bool = False  # available in the offline cache these machines ship with
    notes: str = ""
    device_map: str | None = None  # "auto": accelerate splits a big target over GPUs, CPU and disk
    max_memory: dict | None = None  # with device_map: per-device caps, e.g. {0: "20GiB", cpu: "60GiB"}
    offload_folder: str | None = None  # with device_map: where layers that fit nowhere go (default: cache)

    @property
    def model_id(self) -> str:
        """The hub id (and GGUF file) the weights come from: part of the kernel table's key."""
        return self.hub_id + (f"/{self.gguf_file}" if self.gguf_file else "")


@dataclass(frozen=True)
class Pair:
    key: str
    target: str  # a models.yaml model key
    draft: str  # a drafter spec: model key, hub id, layers:K, lookup[:N], trained:NAME
    gamma: int = 4
    offline: bool = False
    notes: str = ""
    measured: dict | None = None  # dated data of a bench run: alpha by temperature, c, trees, ...

    @property
    def alpha(self) -> dict | None:
        """Leviathan's α by temperature, measured on held-out requests: the pair's own, so
        γ is chosen from it on any machine."""
        return (self.measured or {}).get("alpha")

    @property
    def c(self) -> float | None:
        """c as measured on the machine named in `measured` (this machine's is measured here)."""
        return (self.measured or {}).get("c")

    def measured_line(self) -> str:
        """'α 0.40 at T 0, 0.40 at T 0.7 (measured 2026-11-29 on ...)', or '' if never measured."""
        if not self.alpha:
            return ""
        alphas = ", ".join(f"{a:.2f} at T {float(t):g}" for t, a in sorted(self.alpha.items()))
        return f"α {alphas} ({self.provenance()})"

    def provenance(self) -> str:
        """'measured 2026-12-07 on <machine>': where the pair's numbers come from."""
        m = self.measured or {}
        return " ".join(part for part in (f"measured {m['date']}" if m.get("date") else "",
                                          f"on {m['machine']}" if m.get("machine") else "") if part)


@dataclass
class Registry:
    models: dict[str, ModelSpec]
    pairs: dict[str, Pair]
    default_pair: str
    trained: dict[str, dict] = field(default_factory=dict)

    def default_family(self) -> tuple[Pair, list[Pair]]:
        """The default pair and every offline pair of its target (what this machine is profiled with)."""
        default = self.pairs[self.default_pair]
        return default, [p for p in self.pairs.values() if p.offline and p.target == default.target]

    def model(self, name: str) -> ModelSpec:
        """A models.yaml key or any hub id (then with default settings)."""
        if name in self.models:
            return self.models[name]
        for spec in self.models.values():
            if spec.hub_id == name:
                return spec
        if "/" in name or name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            return ModelSpec(key=name, hub_id=name)
        raise ModelError(f"unknown model {name!r}: use a key from models.yaml "
                         f"({', '.join(self.models)}) or a Hugging Face hub id like org/name")


def load_registry(path: Path | None = None) -> Registry:
    """models.yaml (or the file named by SPECVIZ_MODELS), checked enough to fail in one line."""
    path = Path(path or os.environ.get("SPECVIZ_MODELS") or MODELS_YAML)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
        models = {k: ModelSpec(key=k, **v) for k, v in data["models"].items()}
        pairs = {k: Pair(key=k, **v) for k, v in data["pairs"].items()}
        registry = Registry(models, pairs, data["default_pair"], data.get("trained", {}) or {})
    except OSError as e:
        raise ModelError(f"cannot read the model registry {path}: {e.strerror}") from None
    except (yaml.YAMLError, TypeError, KeyError, AttributeError) as e:
        raise ModelError(f"{path} is malformed ({type(e).__name__}: {first_line(e)}): "
                         "compare it with the models.yaml that ships with SpecViz") from None
    if registry.default_pair not in pairs:
        raise ModelError(f"{path}: default_pair {registry.default_pair!r} is not one of its pairs")
    return registry


def draft_weights_digest(name: str) -> str | None:
    """sha256 of drafts/NAME/weights.safetensors (which training of a draft a measurement used), or
    None if there is no such draft; read once per file version."""
    path = DRAFTS_DIR / name / "weights.safetensors"
    try:
        return _digest(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


@functools.lru_cache(maxsize=8)
def _digest(path: str, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu")
    return device


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: object  # a transformers PreTrainedModel, in eval mode
    tokenizer: object
    device: str
    dtype: str
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time

    @property
    def name(self) -> str:
        return self.spec.key

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    def tune(self, sizes=None, retune: bool = False, progress: Progress = lambda m: None):
        """The kernel table at the current thread count (specviz.decoding.autotune: measured once per
        machine, then read from the cache): the CPU kernels in use, and v(k)."""
        from . import autotune, kerneltable

        return autotune.tune(self.model, self.model_id, sizes or kerneltable.SIZES, retune, progress=progress)


_CACHE: dict[tuple, LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(spec: ModelSpec, device: str = "auto", dtype: str | None = None,
               progress: Progress = lambda msg: None) -> LoadedModel:
    """Load (once per process) a model and its tokenizer by hub id."""
    device = "split" if spec.device_map else pick_device(device)  # a split model has no one device
    dtype = dtype or spec.dtype
    key = (spec.hub_id, spec.gguf_file, device, dtype, spec.device_map, repr(spec.max_memory))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(spec, device, dtype, progress)
        return _CACHE[key]


def _load(spec: ModelSpec, device: str, dtype: str, progress: Progress) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype):
        raise ModelError(f"unknown dtype {dtype!r}: use float32, float16 or bfloat16")
    start = time.perf_counter()
    source, kwargs = _source(spec, progress)
    kwargs = kwargs | _split_kwargs(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype,
                                                     trust_remote_code=False, **kwargs)
    except OSError as e:
        raise ModelError(_explain_oserror(spec, e)) from None
    except ValueError as e:
        raise ModelError(f"cannot load {spec.hub_id}: {first_line(e, None)}") from None
    except (torch.OutOfMemoryError, MemoryError):
        free_memory(device)
        raise ModelError(f"out of memory loading {spec.key}: use a smaller model") from None
    except Exception as e:  # noqa: BLE001 - e.g. an architecture this transformers cannot build
        raise ModelError(f"cannot load {spec.hub_id}: {type(e).__name__}: {first_line(e)}. Check that it "
                         "is a causal language model this transformers version supports") from None
    if spec.gguf_file and source == spec.hub_id and not spec.device_map:
        _save_converted(spec, model, tokenizer, progress)
    if spec.device_map:
        device = _input_device(model)
        progress(f"loaded {spec.key} split over {_placement(model)} in {time.perf_counter() - start:.1f} s")
        return LoadedModel(spec, model.eval(), tokenizer, device, dtype)
    try:
        model.to(device).eval()
    except (torch.OutOfMemoryError, MemoryError):
        del model
        free_memory(device)
        raise ModelError(f"out of memory moving {spec.key} to {device}: use --device cpu or a "
                         "smaller model") from None
    loaded = LoadedModel(spec, model, tokenizer, device, dtype)
    if device == "cpu":  # the CPU kernels are chosen now, by measurement, not in the first run
        loaded.tune(progress=progress)
    progress(f"loaded {spec.key} on {device} in {time.perf_counter() - start:.1f} s")
    return loaded


def _split_kwargs(spec: ModelSpec) -> dict:
    """from_pretrained arguments that let accelerate place a big target over several devices."""
    if not spec.device_map:
        return {}
    folder = spec.offload_folder or str(cache_dir() / "offload" / _converted_dir(spec).name)
    # YAML keys of max_memory are strings; accelerate wants GPU indices as ints
    memory = {int(k) if str(k).isdigit() else k: v for k, v in (spec.max_memory or {}).items()} or None
    return {"device_map": spec.device_map, "max_memory": memory, "offload_folder": folder}


def _input_device(model) -> str:
    """Where input ids go for a split model: the device of its first placed module."""
    first = next(iter(getattr(model, "hf_device_map", {}).values()), "cpu")
    return f"cuda:{first}" if isinstance(first, int) else "cpu" if first in ("cpu", "disk") else str(first)


def _placement(model) -> str:
    """'cpu (12 modules), disk (20 modules)': where accelerate put the model's parts."""
    where: dict[str, int] = {}
    for device in getattr(model, "hf_device_map", {}).values():
        name = f"cuda:{device}" if isinstance(device, int) else str(device)
        where[name] = where.get(name, 0) + 1
    return ", ".join(f"{d} ({n} module{'s' * (n != 1)})" for d, n in where.items()) or "one device"


def _torch_default_threads() -> int:
    """torch's own choice (one per physical core), read before SpecViz changes it; where torch
    is not loaded yet (a page that only reads saved measurements) the CPU count stands in."""
    if "torch" not in sys.modules:
        return os.cpu_count() or 1
    return _torch_threads_at_import()


@functools.cache
def _torch_threads_at_import() -> int:
    import torch

    return torch.get_num_threads()


def cpu_threads(requested: int = 0) -> int:
    """Torch threads for decoding on the CPU: requested, else $SPECVIZ_THREADS, else every
    core the load average leaves free (at least one).

    Measured (docs/performance.md): threads past the free cores wait for each other at every
    op; on 2 cores at load 3-6, 2 threads decoded 3-7x slower than 1.
    """
    requested = requested or int(os.environ.get("SPECVIZ_THREADS", "0") or 0)
    if requested > 0:
        return requested
    cores = _torch_default_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, round(cores - load)))


def use_cpu_threads(requested: int = 0) -> int:
    """Set torch's CPU threads to cpu_threads(requested) (entry points call this once); returns it."""
    import torch

    threads = cpu_threads(requested)
    torch.set_num_threads(threads)
    return threads


def _converted_dir(spec: ModelSpec) -> Path:
    base = cache_dir()
    tag = hashlib.sha1(f"{spec.hub_id}|{spec.gguf_file}".encode()).hexdigest()[:12]
    return base / "converted" / f"{spec.hub_id.replace('/', '--')}-{tag}"


def _source(spec: ModelSpec, progress: Progress) -> tuple[str, dict]:
    """Where to load from: a converted safetensors copy of a GGUF if we made one, else the hub id."""
    if not spec.gguf_file:
        progress(f"loading {spec.hub_id} ...")
        return spec.hub_id, {}
    converted = _converted_dir(spec)
    if (converted / "model.safetensors").exists():
        progress(f"loading {spec.key} (converted copy in {converted}) ...")
        return str(converted), {}
    progress(f"loading {spec.hub_id} [{spec.gguf_file}]: de-quantising the GGUF takes "
             "15-30 s the first time; later loads use a converted copy and take about 1 s")
    return spec.hub_id, {"gguf_file": spec.gguf_file}


def _save_converted(spec: ModelSpec, model, tokenizer, progress: Progress) -> None:
    """Keep a safetensors copy of the de-quantised GGUF so the next process loads in ~1 s."""
    target = _converted_dir(spec)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}.{threading.get_ident()}")
    try:
        model.hf_quantizer = None  # the weights are already plain float tensors
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.replace(target) if not target.exists() else shutil.rmtree(tmp)
        progress(f"saved a converted copy to {target}")
    except OSError as e:  # a read-only home is fine: we just convert again next time
        shutil.rmtree(tmp, ignore_errors=True)
        progress(f"could not save a converted copy ({e.strerror}); continuing")


def free_memory(device: str) -> None:
    """Give back what a failed load or run held (weights, KV caches) before anything else runs."""
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _cached_ggufs(hub_id: str) -> list[str] | None:
    """The .gguf files of a hub repo: from the local cache offline, else from the hub."""
    try:
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            from huggingface_hub.constants import HF_HUB_CACHE

            snaps = Path(HF_HUB_CACHE) / f"models--{hub_id.replace('/', '--')}" / "snapshots"
            found = sorted({p.name for p in snaps.glob("*/*.gguf")}) if snaps.is_dir() else []
            return found or None
        from huggingface_hub import list_repo_files

        return sorted(f for f in list_repo_files(hub_id) if f.endswith(".gguf")) or None
    except Exception:  # noqa: BLE001 - only a hint: no list is fine
        return None


def _explain_oserror(spec: ModelSpec, e: OSError) -> str:
    msg = (first_line(e, None) or type(e).__name__).rstrip(".")
    ggufs = _cached_ggufs(spec.hub_id) if spec.gguf_file else None
    if ggufs and spec.gguf_file not in ggufs:
        return (f"cannot load {spec.hub_id}: it has no file {spec.gguf_file!r}. Set gguf_file of "
                f"{spec.key} in models.yaml to one of: {', '.join(ggufs)}")
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = (" You are offline (HF_HUB_OFFLINE=1): only models in HF_HUB_CACHE can load; "
            f"HF_HUB_CACHE={os.environ.get('HF_HUB_CACHE', '(default)')}." if offline else
            " Check the hub id, your network, and that the gguf_file name is right.")
    return f"cannot load {spec.hub_id}{f' [{spec.gguf_file}]' if spec.gguf_file else ''}: {msg}.{hint}"


def encode_prompt(tokenizer, prompt: str, chat: bool) -> list[int]:
    """Token ids of the prompt, wrapped in the chat template for instruct models."""
    if chat and getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                            add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    return tokenizer(prompt).input_ids


def eos_ids(target: LoadedModel) -> set[int]:
    ids = target.model.generation_config.eos_token_id
    ids = ids if isinstance(ids, list) else [ids]
    return {i for i in ids + [target.tokenizer.eos_token_id] if i is not None}


def check_same_vocab(target: LoadedModel, draft: LoadedModel) -> None:
    """Speculative decoding compares token ids, so both models must share one vocabulary."""
    tv, dv = target.tokenizer.get_vocab(), draft.tokenizer.get_vocab()
    if tv != dv:
        diff = len(set(tv.items()) ^ set(dv.items()))
        raise ModelError(f"{draft.name} and {target.name} use different tokenizers ({len(dv)} vs "
                         f"{len(tv)} tokens, {diff} entries differ): pick a draft from the same "
                         "model family, or use layers:K / lookup which need no second model")


def parse_drafter_spec(spec: str) -> tuple[str, int | str | None]:
    """'layers:4' -> ('layers', 4); 'lookup' -> ('lookup', None); 'org/model' -> ('model', None);
    'trained:NAME' -> ('trained', 'NAME'); 'hybrid:NAME' -> ('hybrid', 'NAME')."""
    kind, _, arg = spec.partition(":")
    if kind in ("trained", "hybrid"):
        return kind, arg
    if kind in ("layers", "lookup"):
        if arg and not arg.isdigit():
            raise ModelError(f"bad drafter {spec!r}: use layers:K or lookup:N with a whole number")
        if kind == "layers" and not arg:
            raise ModelError("layers needs a layer count: layers:K, e.g. layers:4")
        return kind, int(arg) if arg else None
    return "model", None


def spec_branches(spec: str) -> bool:
    """Whether drafters of this spec can draft a token tree (prompt lookup proposes one
    continuation; a hybrid is lookup in some rounds)."""
    return parse_drafter_spec(spec)[0] not in ("lookup", "hybrid")
