"""The `lstmcount` command line: thin Typer commands over the library.

Exit codes: 0 ok, 1 a check failed, 2 bad input or usage, 3 an optional framework is missing,
130 interrupted. Reports go to stdout; errors, verdicts and warnings to stderr.

No `from __future__ import annotations` here: Typer reads every command's signature on every run,
and string annotations would have it eval() some 340 of them (about 17 ms of each `params` call).
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from .errors import LstmcountError, UsageError
from .spec import LayerFlags

if TYPE_CHECKING:
    from .layout import ModelLayout

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Exact parameter counts for LSTM, GRU and RNN layers: per layer, per gate, per framework.",
)


class LayerType(str, Enum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"


class FrameworkName(str, Enum):
    keras = "keras"
    pytorch = "pytorch"
    onnx = "onnx"
    tf1 = "tf1"
    cudnn = "cudnn"
    flax = "flax"


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"
    latex = "latex"


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    int8 = "int8"


def fail(messages: list[str], code: int) -> NoReturn:
    for line in messages:
        sys.stderr.write(f"{line}\n")
    counted = [m for m in messages if "stopping after" not in m]
    if len(counted) > 1:
        sys.stderr.write(f"{len(counted)} problems\n")
    raise typer.Exit(code)


INTERRUPTED = b"lstmcount: interrupted\n"


@contextmanager
def guarded() -> Iterator[None]:
    """Turn lstmcount's exceptions into one message per problem and the documented exit code."""
    try:
        yield
    except LstmcountError as exc:
        fail([f"lstmcount: {m}" if not _located(m) else m for m in exc.messages()], exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED.decode())
        raise typer.Exit(130) from None
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


@contextmanager
def _interrupt_ends_process() -> Iterator[None]:
    """While the frameworks import, Ctrl-C ends the process at once: exit 130 with the usual line.

    A KeyboardInterrupt raised inside TensorFlow's import unwinds through half-initialised native
    modules, which now and then abort or segfault (seen here: 2 in some 120 tries, exit -6 or -11,
    no message; none in 90 tries since). Before a framework is in, nothing needs cleaning up and
    nothing has been written. The line goes to a copy of stderr taken first: the Keras bridge points
    fd 2 at a file while TensorFlow starts, to keep its log noise off the terminal.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return
    err = os.dup(2)

    def leave(signum: int, frame: object) -> None:
        os.write(err, INTERRUPTED)
        os._exit(130)

    previous = signal.signal(signal.SIGINT, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        os.close(err)


def _located(message: str) -> bool:
    head = message.split(": ", 1)[0]
    return ":" in head or head.startswith(("<", "/", ".")) or head.endswith((".yaml", ".yml"))


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _version(value: bool) -> None:
    if value:
        from . import __version__

        sys.stdout.write(f"lstmcount {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Exact parameter counts for LSTM, GRU and RNN layers: per layer, per gate, per framework."""


ConfigArg = Annotated[str | None, typer.Argument(help="A YAML model spec (or - for standard input), a Keras "
                                                      ".keras/.json file, a PyTorch state_dict or an ONNX file.",
                                                 show_default=False)]
UnitsOpt = Annotated[int | None, typer.Option("--units", "-u", help="Hidden size of the layer.")]
InputOpt = Annotated[int | None, typer.Option("--input", "-i", help="Input features per time step.")]
TypeOpt = Annotated[LayerType, typer.Option("--type", "-t", case_sensitive=False, help="Layer type.")]
FrameworkOpt = Annotated[FrameworkName, typer.Option(
    "--framework", "-f", case_sensitive=False,
    help="Whose convention: keras, pytorch (also in spec files), onnx, tf1, cudnn, flax (flags only).")]
BidiOpt = Annotated[bool, typer.Option("--bidirectional", help="Both directions.")]
LayersOpt = Annotated[int, typer.Option("--num-layers", help="Stacked layers; layer k>1 takes the previous "
                                                             "layer's output.")]
NoBiasOpt = Annotated[bool, typer.Option("--no-bias", help="Layers without bias vectors.")]
ResetOpt = Annotated[bool | None, typer.Option("--reset-after/--no-reset-after", show_default=False,
                                               help="Keras GRU: a second bias (the default in Keras 3).")]
ProjOpt = Annotated[int | None, typer.Option("--proj-size", help="LSTM projection: PyTorch proj_size, "
                                                                 "TF1 num_proj.")]
PeepOpt = Annotated[bool, typer.Option("--peepholes", help="LSTM peephole weights (onnx, tf1).")]
DTypeOpt = Annotated[DType, typer.Option("--dtype", case_sensitive=False,
                                         help="Element type for the size in bytes.")]
OutputOpt = Annotated[str | None, typer.Option("--output", "-O", help="Write the report to this file "
                                                                      "(atomically) instead of stdout.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shortcut for --format json.")]


def _layer_flags(config: str | None, units: int | None, input: int | None, type: LayerType,
                 framework: FrameworkName, bidirectional: bool, num_layers: int, no_bias: bool,
                 reset_after: bool | None, proj_size: int | None, peepholes: bool,
                 need_units: bool = True) -> LayerFlags | None:
    """LayerFlags from the shared flags, or None when a spec file is given instead (never both)."""
    if config is not None:
        given = [k for k, v in {"--units": units, "--input": input, "--proj-size": proj_size,
                                "--reset-after": reset_after}.items() if v is not None]
        given += [k for k, v in {"--bidirectional": bidirectional, "--no-bias": no_bias, "--peepholes": peepholes,
                                 "--num-layers": num_layers != 1}.items() if v]
        if given:
            raise UsageError(f"{', '.join(given)} describe a layer from flags; they cannot be combined with "
                             f"a model spec file ({config})")
        return None
    if (units is None and need_units) or input is None:
        raise UsageError("give a model spec file (lstmcount params model.yaml) or a layer from flags "
                         "(lstmcount params --units 75 --input 28)")
    return LayerFlags(type.value, framework.value, 1 if units is None else units, input, bidirectional, num_layers,
                      not no_bias, reset_after, proj_size, peepholes)


@app.command()
def params(
    config: ConfigArg = None, units: UnitsOpt = None, input: InputOpt = None, type: TypeOpt = LayerType.lstm,
    framework: FrameworkOpt = FrameworkName.keras, bidirectional: BidiOpt = False, num_layers: LayersOpt = 1,
    no_bias: NoBiasOpt = False, reset_after: ResetOpt = None, proj_size: ProjOpt = None, peepholes: PeepOpt = False,
    fmt: Annotated[Format, typer.Option("--format", "-o", case_sensitive=False,
                                        help="Output format.")] = Format.table,
    json_: JsonOpt = False, dtype: DTypeOpt = DType.float32,
    check: Annotated[bool, typer.Option("--check", help="Check the spec's expect: block (exit 1 if it "
                                                        "fails); needs no framework.")] = False,
    timesteps: Annotated[int | None, typer.Option("--timesteps", "-T", min=1, help="Also count MACs for one "
                                                  "sample over this many time steps (a free time axis).")] = None,
    output: OutputOpt = None,
) -> None:
    """Count parameters per layer and per gate, from flags or from a YAML model spec."""
    from . import conventions, spec
    from .accounting import check_expect, report
    from .conventions.flags import flags_layout
    from .output import write
    from .render import renderer

    with guarded():
        flags = _layer_flags(config, units, input, type, framework, bidirectional, num_layers, no_bias, reset_after,
                             proj_size, peepholes)
        model = None
        if flags is None:
            assert config is not None
            if _is_tensor_file(config):
                if check:
                    raise UsageError("--check needs a spec with an expect: block; a state_dict has none")
                rep = report(_tensor_file(config), dtype.value, timesteps)
            else:
                model = spec.load(config)
                rep = report(conventions.layout(model), dtype.value, timesteps)
            if check and model is not None and not model.expect:
                raise UsageError(f"{model.source}: --check needs an expect: block (e.g. expect: {{total: 31960}})")
        else:
            if check:
                raise UsageError("--check checks a spec file's expect: block; it needs a model spec file")
            rep = report(flags_layout(flags), dtype.value, timesteps)
        chosen = Format.json if json_ else fmt
        write(renderer(chosen.value)(rep, color=_color() and output is None), output)
        if check and model is not None:
            failures = check_expect(rep, model.expect)
            if failures:
                fail([f"{model.source}: {f}" for f in failures] + [f"{model.source}: check FAILED"], 1)
            sys.stderr.write(f"{model.source}: check ok ({', '.join(sorted(model.expect or {}))})\n")


@app.command()
def layout(
    config: ConfigArg = None, units: UnitsOpt = None, input: InputOpt = None, type: TypeOpt = LayerType.lstm,
    framework: FrameworkOpt = FrameworkName.keras, bidirectional: BidiOpt = False, num_layers: LayersOpt = 1,
    no_bias: NoBiasOpt = False, reset_after: ResetOpt = None, proj_size: ProjOpt = None, peepholes: PeepOpt = False,
    to: Annotated[FrameworkName | None, typer.Option("--to", case_sensitive=False, help="Print the recipe that "
                                                     "converts these weights to another framework's layout.")] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="With a spec or model file: only this layer (by "
                                                              "name); with --to, the recurrent layer to convert "
                                                              "(needed when there are several).")] = None,
    save: Annotated[str | None, typer.Option("--save", help="With --to and a state_dict or ONNX file: also "
                                                            "write the converted weights to this NumPy .npz "
                                                            "file (by target tensor name).")] = None,
    json_: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Show every weight tensor: its shape, gate axis and each gate's [start, stop) slice, in storage order."""
    from . import conventions, spec
    from .conventions.flags import flags_layout
    from .output import write
    from .render.layout import recipe_json, recipe_text, render_json, render_table

    with guarded():
        flags = _layer_flags(config, units, input, type, framework, bidirectional, num_layers, no_bias, reset_after,
                             proj_size, peepholes)
        if flags is not None and layer is not None:
            raise UsageError("--layer goes with a spec or model file")
        if to is not None:
            from .convert import recipe
            from .tools import pick

            if flags is not None:
                rec = recipe(flags, to.value)
            else:
                picked = pick(config or "-", layer)
                rec = recipe(picked.flags, to.value, picked.tensor_names())
            if save is not None:
                if flags is not None or not picked.tensor_file:
                    raise UsageError("--save converts the weights stored in a state_dict or ONNX file; a spec, a "
                                     "Keras file or flags give no weights to convert")
                from .convert import npz
                from .readers import tensor_arrays

                write(npz(rec, tensor_arrays(config or "-")), save, "--save")
                sys.stderr.write(f"{save}: {len({s.target for s in rec.steps})} converted tensors for {to.value}"
                                 f"{'' if rec.exact else ' (NOT exact: see the notes)'}\n")
            write(recipe_json(rec) if json_ else recipe_text(rec), output)
            return
        if save is not None:
            raise UsageError("--save goes with --to")
        if flags is not None:
            lay = flags_layout(flags)
        elif _is_tensor_file(config or "-"):
            lay = _tensor_file(config or "-")
        else:
            lay = conventions.layout(spec.load(config or "-"))
        if layer is not None:
            chosen = [each for each in lay.layers if each.name == layer]
            if not chosen:
                raise UsageError(f"--layer {layer!r}: no such layer (the model's layers are "
                                 f"{', '.join(each.name for each in lay.layers)})")
            lay = lay._replace(layers=tuple(chosen))
        write(render_json(lay) if json_ else render_table(lay, color=_color() and output is None), output)


@app.command()
def compare(
    config: ConfigArg = None,
    layer: Annotated[str | None, typer.Option("--layer", help="With a spec or model file: the recurrent layer "
                                                              "to compare (by name; needed when there are "
                                                              "several).")] = None,
    units: UnitsOpt = None, input: InputOpt = None, type: TypeOpt = LayerType.lstm,
    framework: FrameworkOpt = FrameworkName.keras, bidirectional: BidiOpt = False, num_layers: LayersOpt = 1,
    no_bias: NoBiasOpt = False, reset_after: ResetOpt = None, proj_size: ProjOpt = None, peepholes: PeepOpt = False,
    json_: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """The same layer in every framework and variant, side by side, with why each count differs."""
    from .output import write
    from .render.tools import compare_json, compare_table
    from .tools import compare as rows

    with guarded():
        flags = _layer_flags(config, units, input, type, framework, bidirectional, num_layers, no_bias, reset_after,
                             proj_size, peepholes)
        if flags is None:
            from .tools import pick

            flags = pick(config or "-", layer).flags
        elif layer is not None:
            raise UsageError("--layer goes with a spec or model file")
        result = rows(flags)
        write(compare_json(result) if json_ else compare_table(result, flags, color=_color() and output is None),
              output)


@app.command()
def solve(
    config: ConfigArg = None,
    budget: Annotated[int | None, typer.Option("--budget", help="Parameter budget.")] = None,
    max_bytes: Annotated[str | None, typer.Option("--max-bytes", help="Memory budget for the weights, e.g. "
                                                                      "64KiB; with --dtype.")] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="With a spec or model file: the layer whose size "
                                                              "to solve for (by name; by default the only "
                                                              "recurrent layer).")] = None,
    input: InputOpt = None, type: TypeOpt = LayerType.lstm, framework: FrameworkOpt = FrameworkName.keras,
    bidirectional: BidiOpt = False, num_layers: LayersOpt = 1, no_bias: NoBiasOpt = False,
    reset_after: ResetOpt = None, proj_size: ProjOpt = None, peepholes: PeepOpt = False,
    dtype: DTypeOpt = DType.float32, json_: JsonOpt = False,
) -> None:
    """The largest units (or a spec layer's size) whose layer or model fits a parameter or byte budget."""
    import json

    from . import spec
    from .accounting import DTYPE_BYTES
    from .tools import pick, solve_flags, solve_model

    with guarded():
        if (budget is None) == (max_bytes is None):
            raise UsageError("give exactly one of --budget N (parameters) or --max-bytes SIZE (with --dtype)")
        limit = budget if budget is not None else parse_size(max_bytes or "") // DTYPE_BYTES[dtype.value]
        if limit < 1:
            raise UsageError(f"the budget must be at least 1 parameter, got {limit}")
        flags = _layer_flags(config, None, input, type, framework, bidirectional, num_layers, no_bias, reset_after,
                             proj_size, peepholes, need_units=False)
        if flags is None:
            path = config or "-"
            if _is_tensor_file(path):  # the file's other tensors keep their shapes
                picked = pick(path, layer)
                arg, what = "hidden_size", f"{picked.layer.name}.hidden_size"
                sol = solve_flags(picked.flags, limit, picked.layout.params - picked.layer.params, what)
            else:
                model = spec.load(path)
                name = layer if layer is not None else pick(path, None, model).layer.name
                arg, sol = solve_model(model, name, limit)
                what = f"{name}.{arg}"
        else:
            if layer is not None:
                raise UsageError("--layer goes with a spec or model file")
            sol = solve_flags(flags, limit)
            arg, what = "units", "units"
        if json_:
            sys.stdout.write(json.dumps({"units": sol.units, "argument": arg, "params": sol.params,
                                         "budget": limit, "next_params": sol.next_params}) + "\n")
        else:
            sys.stdout.write(f"{what} = {sol.units:,}: {sol.params:,} parameters (budget {limit:,}; "
                             f"{sol.units + 1:,} would need {sol.next_params:,})\n")


def _is_tensor_file(path: str) -> bool:
    from .readers import is_tensor_file

    return is_tensor_file(path)


def _tensor_file(path: str) -> "ModelLayout":
    from .readers import read_tensor_file

    layout: ModelLayout = read_tensor_file(path)
    return layout


def parse_size(text: str) -> int:
    """`1GiB`, `512MiB`, `2GB`, `1000000` -> bytes."""
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    raw = text.strip().lower().replace(" ", "")
    num = raw.rstrip("kmgtib")
    unit = raw[len(num):]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit not in units or value <= 0:
        raise UsageError(f"--max-memory {text!r}: give a size such as 512MiB or 2GiB")
    return int(value * units[unit])


@app.command()
def verify(
    configs: Annotated[list[str] | None, typer.Argument(help="YAML model specs (or - for standard input), Keras "
                                                             ".keras/.json files, PyTorch state_dicts, ONNX "
                                                             "files.", show_default=False)] = None,
    units: UnitsOpt = None, input: InputOpt = None, type: TypeOpt = LayerType.lstm,
    framework: FrameworkOpt = FrameworkName.keras, bidirectional: BidiOpt = False, num_layers: LayersOpt = 1,
    no_bias: NoBiasOpt = False, reset_after: ResetOpt = None, proj_size: ProjOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable results.")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Also print the framework's own summary "
                                                            "(Keras model.summary(), PyTorch module listing).")]
    = False,
    max_memory: Annotated[str, typer.Option("--max-memory", help="Refuse to build a Keras model whose weights "
                                                                 "would take more than this.")] = "1GiB",
    output: Annotated[str | None, typer.Option("--output", "-O", help="Write the results to this file "
                                                                      "(atomically) instead of stdout.")] = None,
) -> None:
    """Build each model (or the layer the flags describe) in the real framework and reconcile it with the
    analytic count, weight by weight.

    Exit 0 when every file matches (and its expect: block holds), 1 when any does not.
    """
    from . import spec
    from .accounting import report
    from .bridges import bridge
    from .conventions import layout
    from .conventions.flags import check as conventions_check
    from .output import write
    from .render import human_bytes
    from .render.verify import render_json, render_table
    from .verify import reconcile

    with guarded():
        limit = parse_size(max_memory)
        flags = _layer_flags(configs[0] if configs else None, units, input, type, framework, bidirectional,
                             num_layers, no_bias, reset_after, proj_size, False)
        if flags is not None:
            if flags.framework not in ("keras", "pytorch"):
                raise UsageError(f"verify builds a layer from flags in keras or pytorch; the {flags.framework} "
                                 "layouts are proven by lstmcount's tests (its README says how)")
            conventions_check(flags)
        configs = configs or []
        if configs.count("-") > 1:
            raise UsageError("standard input (-) can be read only once")
        from .readers import is_onnx, is_state_dict

        state_dicts = [path for path in configs if is_state_dict(path)]
        onnx_files = [path for path in configs if is_onnx(path)]
        models = [spec.load(path) for path in configs if path not in state_dicts and path not in onnx_files]
        if flags is not None:
            models.append(spec.model_from_flags(flags))
        layouts = [layout(m) for m in models]
        reports = [report(lay) for lay in layouts]
        for model, rep in zip(models, reports, strict=True):
            need = rep.total * 4
            if model.framework == "keras" and need > limit:
                raise UsageError(f"{model.source}: building it would allocate {human_bytes(need)} of float32 "
                                 f"weights ({rep.total:,} parameters), over the {human_bytes(limit)} limit; "
                                 f"raise it with --max-memory if you mean it")
        needed = [m.framework for m in models] + (["pytorch"] if state_dicts else []) + \
            (["onnx"] if onnx_files else [])
        with _interrupt_ends_process():
            builders = {fw: bridge(fw) for fw in dict.fromkeys(needed)}  # each framework imported once
        versions = {fw: _framework_version(fw) for fw in builders}
        results = []
        for path in state_dicts:
            from .bridges.torch import check_state_dict

            results.append(reconcile(path, report(_tensor_file(path)), check_state_dict(path), None))
        for path in onnx_files:
            from .bridges.onnx import check_onnx

            results.append(reconcile(path, report(_tensor_file(path)), check_onnx(path), None))
        for model, lay, rep in zip(models, layouts, reports, strict=True):
            build = builders[model.framework]
            assert build is not None  # specs are Keras or PyTorch models
            built = build(model, lay, summary)
            results.append(reconcile(model.source, rep, built, model.expect))
        text = render_json(results, versions) if json_ else render_table(results, versions,
                                                                         color=_color() and output is None)
        write(text, output)
        if not json_:
            ok = sum(r.ok for r in results)
            sys.stderr.write(f"{ok} of {len(results)} file(s) verified\n")
        if not all(r.ok for r in results):
            raise typer.Exit(1)


def _framework_version(framework: str) -> str:
    import importlib.metadata as md

    try:
        return md.version({"keras": "keras", "pytorch": "torch", "onnx": "onnxruntime"}[framework])
    except md.PackageNotFoundError:  # pragma: no cover
        return ""


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - outside a command
        sys.stderr.write(INTERRUPTED.decode())
        sys.exit(130)
