"""A live torch.nn.Module -> a layout, as its saved state_dict would give, knowing its classes.

The module's own state_dict (its parameters and persistent buffers, under the keys a saved file
has) goes through the same grouping and layout as a file's. What a file cannot say, the object does:
each module's exact class and its constructor arguments, read from its attributes, are the only
class tried (no guessing from shapes or names), and a tensor is trainable when it is a Parameter
that requires grad. A module whose class has no table (or a subclass, or one whose tensors its
class would not hold) is counted from its own tensors and listed under its class name. Tied
parameters (one Parameter in two places) are counted once, as model.parameters() counts them.

torch is not imported here: the object's own module is looked up in sys.modules.
"""

from __future__ import annotations

import sys
from typing import Any

from ..conventions import PYTORCH
from ..layout import ROOT, ModelLayout
from .state_dict import Checkpoint, Group, checkpoint, checkpoint_layout


def module_layout(module: Any) -> ModelLayout:
    return checkpoint_layout(module_checkpoint(module), type(module).__name__)


def module_checkpoint(module: Any) -> Checkpoint:
    """The module's tensors as its state_dict keys them, grouped by the module that owns them."""
    torch = sys.modules["torch"]
    sd = module.state_dict(keep_vars=True)
    modules = dict(module.named_modules(remove_duplicate=False))

    def classes(prefix: str, leaves: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        owner = modules.get(prefix)
        found = _exact(owner, torch)
        inner = modules.get(f"{prefix}.module" if prefix else "module")
        if found is None and inner is not None and any(leaf.startswith("module.") for leaf in leaves):
            found = _exact(inner, torch)  # a WeightDropout wrapper: the module it wraps lays them out
        return [found] if found is not None else []

    # one tensor under two names is one object here (a tied Parameter), also on the meta device, where
    # every tensor's storage is at address 0
    ck = checkpoint(type(module).__name__, [("", sd)], [], classes, lambda t: (id(t),))
    groups = []
    for g in ck.groups:
        trainable = {leaf: isinstance(t, torch.nn.Parameter) and bool(t.requires_grad) for leaf, t in g.tensors.items()}
        owner = modules.get("" if g.name == ROOT else g.name)
        cls = _class(owner, torch).__name__ if owner is not None else None
        groups.append(g._replace(trainable=trainable, cls=None if g.kinds else cls))
    own = [f"{g.name} ({g.cls})" for g in groups if not g.kinds]
    notes = (f"counted from their own tensors, as a saved file holds them (lstmcount has no table for their "
             f"class, or their tensors are not what the class's table lays out): {', '.join(own[:8])}"
             f"{' ...' if len(own) > 8 else ''}",) if own else ()
    return ck._replace(groups=tuple(groups), notes=ck.notes + notes)


def _class(module: Any, torch: Any) -> type:
    """A module's class; a parametrized one's (torch makes ParametrizedLSTM from LSTM) is the original."""
    cls: type = type(module)
    if torch.nn.utils.parametrize.is_parametrized(module):
        cls = cls.__bases__[0]
    return cls


def _exact(module: Any, torch: Any) -> tuple[str, dict[str, Any]] | None:
    """(class, constructor arguments) of a module whose class is exactly a torch.nn class with a table."""
    if module is None:
        return None
    cls = _class(module, torch)
    kind = PYTORCH.kinds.get(cls.__name__)
    if kind is None or getattr(torch.nn, cls.__name__, None) is not cls:
        return None
    args: dict[str, Any] = {}
    for arg, spec in kind.args.items():
        if arg in ("device", "dtype", "_weight") or not hasattr(module, arg):
            continue
        value = getattr(module, arg)
        if arg == "bias" and not isinstance(value, bool):  # the bias Parameter (or None) stands for bias=...
            value = value is not None
        if isinstance(value, tuple):
            value = list(value)
        if spec.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        args[arg] = value
    return cls.__name__, args


__all__ = ["Group", "module_checkpoint", "module_layout"]
