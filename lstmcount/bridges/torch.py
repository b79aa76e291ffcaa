"""Build a Model's modules with torch.nn and list their real parameters."""

from __future__ import annotations

from typing import Any

from ..conventions import PYTORCH
from ..errors import FrameworkError, FrameworkMissing, problem
from ..layout import ModelLayout
from ..model import Model
from ..reconcile import ActualLayer, ActualWeight, Built

_torch: Any = None
META_ABOVE_BYTES = 256 * 1024 * 1024


def load() -> Any:
    global _torch
    if _torch is None:
        try:
            import torch
        except ImportError:
            raise FrameworkMissing("PyTorch", "torch") from None
        _torch = torch
    return _torch


def build(model: Model, layout: ModelLayout, summary: bool = False) -> Built:
    nn = _torch.nn
    modules = []
    # Small models are built on the CPU (initializing them costs milliseconds); large ones on the
    # meta device, which allocates nothing (but its first normal_() imports torch's compiler, ~1 s).
    device = "cpu" if layout.params * 4 <= META_ABOVE_BYTES else "meta"
    with _torch.device(device):
        for spec, planned in zip(model.layers, layout.layers, strict=True):
            kind = PYTORCH.kind(spec.type, None)
            assert kind is not None  # the analytic layout accepted it
            try:
                module = getattr(nn, kind.name)(**{k: v for k, v in spec.args.items() if k != "name"})
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise FrameworkError(problem(spec.loc, spec.where(), f"PyTorch rejected it: {first}")) from None
            modules.append((planned.name, kind.name, module))
    actual = tuple(
        ActualLayer(name, type_name, tuple(ActualWeight(n, tuple(p.shape), bool(p.requires_grad))
                                           for n, p in module.named_parameters()))
        for name, type_name, module in modules
    )
    text = None
    if summary:
        listing = nn.ModuleDict({name: module for name, _, module in modules})
        text = f"{listing}\nTotal params: {sum(layer.params for layer in actual):,}"
    native = sum(int(p.numel()) for _, _, module in modules for p in module.parameters())
    return Built(actual, native, text)


def check_state_dict(path: str) -> Built:
    """Each recognised module is built by torch.nn from the inferred arguments and must accept the
    file's tensors with load_state_dict(strict=True); its parameters are then listed as torch sees
    them. Unrecognised tensors are listed as stored."""
    from ..inputs.state_dict import BUFFERS, state_dict_modules

    nn = _torch.nn
    layers = []
    modules = state_dict_modules(path)
    for prefix, spec, tensors in modules:
        name = prefix or "(root)"
        if spec is None:
            layers.append(ActualLayer(name, "tensors", tuple(
                ActualWeight(leaf, tuple(t.shape), leaf not in BUFFERS) for leaf, t in tensors.items())))
            continue
        with _torch.device("meta"):
            module = getattr(nn, spec[0])(**spec[1])
        try:
            module.load_state_dict(tensors, strict=True, assign=True)
        except RuntimeError as exc:
            raise FrameworkError(f"{path}: module {name!r} ({spec[0]}): PyTorch refused its tensors: "
                                 f"{str(exc).strip().splitlines()[0][:300]}") from None
        layers.append(ActualLayer(name, spec[0], tuple(ActualWeight(n, tuple(p.shape), bool(p.requires_grad))
                                                       for n, p in module.named_parameters())))
    native = sum(int(t.numel()) for _, _, tensors in modules for t in tensors.values())
    return Built(tuple(layers), native)
