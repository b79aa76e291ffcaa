"""Real Keras model files as input: a `.keras` archive or a `model.to_json()` file.

Only the stored configuration is read (zipfile + json): TensorFlow is never imported, and the
weights file is not needed to count. The result is the same Model a YAML spec gives.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any

from ..errors import Loc, SpecError, problem
from ..model import MAX_BYTES, LayerSpec, Model

# Serialization-only entries of a layer config that are not constructor arguments.
DROP = ("zero_output_for_mask", "build_config", "compile_config", "shared_object_id")


def read_keras(path: str) -> Model:
    loc = Loc(path)
    data = _config(path, loc)
    if not isinstance(data, dict) or data.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise SpecError([problem(loc, None, "not a Keras model file: expected a Sequential or Functional "
                                            "model configuration")])
    config = data.get("config") or {}
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise SpecError([problem(loc, None, "the model configuration has no `layers` list")])
    if data["class_name"] != "Sequential":
        _check_chain(entries, config, loc)
    input_shape = config.get("build_input_shape")
    layers: list[LayerSpec] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise SpecError([problem(loc, None, f"a layer entry is not a Keras layer config: {str(entry)[:80]}")])
        if entry.get("class_name") == "InputLayer":
            input_shape = entry["config"].get("batch_shape") or entry["config"].get("batch_input_shape")
            continue
        layers.append(LayerSpec(str(entry.get("class_name")), _args(entry), len(layers) + 1, loc, {}))
    if not isinstance(input_shape, list) or not input_shape:
        raise SpecError([problem(loc, None, "the model configuration does not say its input shape "
                                            "(no InputLayer and no build_input_shape)")])
    return Model("keras", tuple(layers), tuple(input_shape[1:]), None, config.get("name"), None, path,
                 {"layers": loc, "input_shape": loc})


def _config(path: str, loc: Loc) -> Any:
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                info = archive.getinfo("config.json")
                if info.file_size > MAX_BYTES:
                    raise SpecError([problem(loc, None, "config.json is larger than 16 MiB")])
                return json.loads(archive.read(info))
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise SpecError([problem(loc, None, "larger than 16 MiB; not a model file")])
        return json.loads(raw)
    except FileNotFoundError:
        raise SpecError([problem(loc, None, "no such file")]) from None
    except KeyError:
        raise SpecError([problem(loc, None, "not a Keras archive: it has no config.json")]) from None
    except zipfile.BadZipFile:
        raise SpecError([problem(loc, None, "not a .keras archive (not a zip file)")]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError([problem(loc, None, f"not valid JSON ({exc})")]) from None
    except RecursionError:
        raise SpecError([problem(loc, None, "JSON nested too deeply")]) from None
    except OSError as exc:
        raise SpecError([problem(loc, None, f"cannot be read ({exc.strerror or exc})")]) from None


def _check_chain(entries: list[Any], config: dict[str, Any], loc: Loc) -> None:
    """A functional model is counted when it is a chain: each layer reads the one before it."""
    previous = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = (entry.get("config") or {}).get("name") or entry.get("name")
        nodes = entry.get("inbound_nodes") or []
        sources = [arg.get("config", {}).get("keras_history", [None])[0]
                   for node in nodes if isinstance(node, dict) for arg in node.get("args", [])
                   if isinstance(arg, dict)]
        if previous is not None and sources != [previous]:
            raise SpecError([problem(loc, None, f"layer {name!r} reads {sources or 'nothing'}, not just {previous!r}: "
                                                "only models that are a single chain of layers can be counted yet")])
        previous = name


def _args(entry: dict[str, Any]) -> dict[str, Any]:
    """A layer config as constructor arguments: dtype policies as names, nested layers as specs."""
    args: dict[str, Any] = {}
    for key, value in entry["config"].items():
        if key in DROP:
            continue
        if key == "dtype" and isinstance(value, dict):
            value = (value.get("config") or {}).get("name")
        elif key in ("layer", "backward_layer") and isinstance(value, dict) and "class_name" in value:
            value = {"type": value["class_name"], **_args(value)}
        elif isinstance(value, dict):
            value = _clean(value)
        args[key] = value
    backward = args.get("backward_layer")
    if isinstance(backward, dict) and _mirrors(backward, args.get("layer")):
        del args["backward_layer"]  # Keras 3 stores the mirrored backward layer it made itself
    return args


def _clean(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(v) if isinstance(v, dict) else v for k, v in value.items() if k not in DROP}


def _mirrors(backward: dict[str, Any], forward: Any) -> bool:
    if not isinstance(forward, dict):
        return False
    ignore = {"name", "go_backwards"}
    return {k: v for k, v in backward.items() if k not in ignore} == \
        {k: v for k, v in forward.items() if k not in ignore}
