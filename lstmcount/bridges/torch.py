"""Build a Model's modules (or a checkpoint's) with torch.nn and list their real parameters and buffers.

The modules are put together into one model, named as the layout names them, and PyTorch's own
count is that model's: `sum(p.numel() for p in model.parameters())` (a Parameter held in two places
once, as tied weights are) plus its buffers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..conventions import PYTORCH, flat
from ..errors import FrameworkError, FrameworkMissing, problem
from ..layout import ROOT, ModelLayout, tensor_key
from ..model import Model
from ..reconcile import ActualLayer, ActualWeight, Built

_torch: Any = None
META_ABOVE_BYTES = 256 * 1024 * 1024
NATIVE = ("PyTorch's own count is model.parameters() of the modules built as one model, where a tensor held "
          "in two places is one Parameter counted once, plus its buffers")


def load() -> Any:
    global _torch
    if _torch is None:
        try:
            import torch
        except ImportError:
            raise FrameworkMissing("PyTorch", "torch") from None
        _torch = torch
    return _torch


class _Entry(NamedTuple):
    """One tensor of a built module: the layer it belongs to, the module, its key there, its name in the layout."""

    layer: str
    module: Any
    key: str
    name: str


def build(model: Model, layout: ModelLayout, summary: bool = False) -> Built:
    nn = _torch.nn
    modules = []
    # Small models are built on the CPU (initializing them costs milliseconds); large ones on the
    # meta device, which allocates nothing (but its first normal_() imports torch's compiler, ~1 s).
    device = "cpu" if layout.params * 4 <= META_ABOVE_BYTES else "meta"
    specs = flat(model).layers
    with _torch.device(device):
        for spec, planned in zip(specs, layout.layers, strict=True):
            kind = PYTORCH.kind(spec.type, None)
            assert kind is not None  # the analytic layout accepted it
            try:
                module = getattr(nn, kind.name)(**{k: v for k, v in spec.args.items() if k not in ("name", "tie")})
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise FrameworkError(problem(spec.loc, spec.where(), f"PyTorch rejected it: {first}")) from None
            modules.append((planned.name, kind.name, module))
    root = _assemble(model.source, [(name, module) for name, _, module in modules])
    for spec, (_, _, module) in zip(specs, modules, strict=True):
        for own, other in (spec.args.get("tie") or {}).items():  # as in code: decoder.weight = encoder.weight
            path, _, leaf = other.rpartition(".")
            setattr(module, own, getattr(root.get_submodule(path), leaf))
    entries = [_Entry(name, module, key, key) for name, _, module in modules for key in _own(module)]
    owners = _first(entries)
    actual = tuple(ActualLayer(name, type_name, tuple(_weights([e for e in entries if e.module is module], owners)))
                   for name, type_name, module in modules)
    text = None
    if summary:
        text = f"{root}\nTotal params: {sum(p.numel() for p in root.parameters()):,}"
    return Built(actual, _native(root), text, (NATIVE,) if _shared(entries) else ())


def _own(module: Any) -> list[str]:
    """A module's own state_dict keys (its parametrizations' included), not those of modules put inside it."""
    children = set(module._modules) - {"parametrizations"}
    return [key for key in module.state_dict(keep_vars=True) if key.split(".", 1)[0] not in children]


def _tensor(module: Any, key: str) -> Any:
    path, _, leaf = key.rpartition(".")
    owner = module.get_submodule(path)
    found = owner._parameters.get(leaf)
    return found if found is not None else owner._buffers[leaf]


def _assemble(source: str, modules: list[tuple[str, Any]]) -> Any:
    """One nn.Module holding every module at its dotted name (`encoder.0` inside `encoder`)."""
    nn = _torch.nn
    root = next((m for name, m in modules if name == ROOT), None) or nn.Module()
    for name, module in modules:
        if name == ROOT:
            continue
        parent = root
        *path, leaf = name.split(".")
        try:
            for part in path:
                child = parent._modules.get(part)
                if child is None:
                    child = nn.Module()
                    parent.add_module(part, child)
                parent = child
            below = parent._modules.get(leaf)
            parent.add_module(leaf, module)
            for k, v in (below._modules.items() if below is not None else ()):  # a container made for its children
                module.add_module(k, v)
        except (KeyError, TypeError) as exc:
            raise FrameworkError(f"{source}: PyTorch cannot hold a module named {name!r} ({exc})") from None
    return root


def _first(entries: list[_Entry]) -> dict[int, str]:
    """Each Parameter's first name in the model's order, by identity (the one model.parameters() keeps)."""
    out: dict[int, str] = {}
    for e in entries:
        out.setdefault(id(_tensor(e.module, e.key)), tensor_key(e.layer, e.name))
    return out


def _shared(entries: list[_Entry]) -> bool:
    return len({id(_tensor(e.module, e.key)) for e in entries}) < len(entries)


def _weights(entries: list[_Entry], first: dict[int, str]) -> list[ActualWeight]:
    """Parameters (trainable when they require grad) and buffers as torch holds them; a tensor held first
    elsewhere is tied there."""
    out = []
    for e in entries:
        tensor = _tensor(e.module, e.key)
        owner = first[id(tensor)]
        tied = owner if owner != tensor_key(e.layer, e.name) else None
        trained = isinstance(tensor, _torch.nn.Parameter) and bool(tensor.requires_grad)
        out.append(ActualWeight(e.name, tuple(int(d) for d in tensor.shape), trained, tied))
    return out


def _native(root: Any) -> int:
    return sum(int(p.numel()) for p in root.parameters()) + sum(int(b.numel()) for b in root.buffers())


def check_checkpoint(ck: Any) -> Built:
    """Each recognised module is built by torch.nn from the arguments read off its tensors (with the
    file's parametrizations applied again: weight_norm, the old weight_g/weight_v) and must accept them
    with load_state_dict(strict=True); tensors that share storage are made one Parameter again, as they
    were when saved; the modules are put together as one model and torch's parameters() and buffers()
    counted. Tensors of modules without a table, and a parametrization's own state, are listed as stored."""
    from ..inputs.state_dict import identity, stored_trainable

    nn = _torch.nn
    entries: list[_Entry] = []
    modules: list[tuple[str, Any]] = []
    for g in ck.groups:
        if not g.kinds:
            continue
        with _torch.device("meta"):
            module = getattr(nn, g.kinds[0])(**g.args)
            for weight, how in g.how.items():
                if how == "weight_norm":
                    nn.utils.parametrizations.weight_norm(module, weight)
                elif how == "old_weight_norm":
                    nn.utils.weight_norm(module, weight)
        keys = list(module.state_dict().keys())
        leaf_of = {k: k if k in g.tensors else f"module.{k}" if f"module.{k}" in g.tensors else g.names.get(k, k)
                   for k in keys}
        try:
            module.load_state_dict({k: g.tensors[leaf_of[k]] for k in keys if leaf_of[k] in g.tensors},
                                   strict=True, assign=True)
        except RuntimeError as exc:
            raise FrameworkError(f"{ck.source}: module {g.name!r} ({g.kinds[0]}): PyTorch refused its tensors: "
                                 f"{str(exc).strip().splitlines()[0][:300]}") from None
        entries += [_Entry(g.name, module, k, leaf_of[k]) for k in keys]
        modules.append((g.name, module))
    _retie(entries, identity)
    root = _assemble(ck.source, modules)
    first = _first(entries)
    by_ident = {identity(_tensor(e.module, e.key)): tensor_key(e.layer, e.name) for e in reversed(entries)}
    layers, rest = [], 0
    for g in ck.groups:
        mine = [e for e in entries if e.layer == g.name]
        weights = _weights(mine, first)
        loaded = {e.name for e in mine}
        for leaf, t in g.tensors.items():  # a module without a table, or a parametrization's own state
            if leaf in loaded:
                continue
            full, ident = tensor_key(g.name, leaf), identity(t)
            owner = by_ident.setdefault(ident, full) if ident is not None else full
            rest += int(t.numel()) if owner == full else 0
            weights.append(ActualWeight(leaf, tuple(int(d) for d in t.shape), stored_trainable(leaf),
                                        owner if owner != full else None))
        layers.append(ActualLayer(g.name, g.kinds[0] if g.kinds else g.type, tuple(weights)))
    return Built(tuple(layers), _native(root) + rest, None, (NATIVE,) if ck.tied else ())


def _retie(entries: list[_Entry], identity: Any) -> None:
    """Make the tensors that share storage one Parameter (or buffer), as they were in the model saved."""
    first: dict[Any, Any] = {}
    for e in entries:
        tensor = _tensor(e.module, e.key)
        ident = identity(tensor)
        is_param = isinstance(tensor, _torch.nn.Parameter)
        if ident is None:
            continue
        kept = first.setdefault((is_param, ident), tensor)
        if kept is not tensor:
            path, _, leaf = e.key.rpartition(".")
            owner = e.module.get_submodule(path)
            (owner._parameters if is_param else owner._buffers)[leaf] = kept
