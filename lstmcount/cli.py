"""The `lstmcount` command line: thin Typer commands over the library.

Exit codes: 0 ok, 1 a check failed, 2 bad input or usage, 3 an optional framework is missing,
130 interrupted. Reports go to stdout; errors, verdicts and warnings to stderr.

No `from __future__ import annotations` here: Typer reads every command's signature on every run,
and string annotations would have it eval() some 340 of them (about 17 ms of each `params` call).
"""

import difflib
import functools
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, NoReturn

import typer
from typer.core import TyperGroup

from .errors import LstmcountError, UsageError, printable
from .model import FRAMEWORK_ALIASES, LayerFlags

if TYPE_CHECKING:
    from .model import Model
    from .tools import Picked

# What people call a command they look for, when it is not its name (`lstmcount count`).
COMMAND_SYNONYMS = {"count": "params", "counts": "params", "param": "params", "parameters": "params",
                    "summary": "params", "show": "layout", "weights": "layout", "gates": "layout",
                    "convert": "layout", "diff": "compare", "fit": "solve", "budget": "solve", "size": "solve",
                    "test": "verify", "validate": "verify"}


class Commands(TyperGroup):
    """The command group: an unknown command is answered with the near one (by spelling, or by what
    people call it) and the list of commands, exit 2."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None and not ctx.resilient_parsing:
            names = [n for n, c in self.commands.items() if not c.hidden]
            near = COMMAND_SYNONYMS.get(name.lower()) or next(iter(difflib.get_close_matches(name, names, 1)), None)
            hint = f" Did you mean {near!r}?" if near in names else ""
            ctx.fail(f"No such command {name!r}.{hint} The commands: {', '.join(names)} "
                     f"(lstmcount COMMAND --help says more).")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=Commands,
    add_completion=True,
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
    yaml = "yaml"
    markdown = "markdown"
    html = "html"
    csv = "csv"
    latex = "latex"


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    int8 = "int8"


MAX_LINE = 2_000  # characters of one message line: names come from files, and a file may hold a huge one


def say(line: str) -> None:
    """One line on stderr, control characters and lone surrogates escaped (names and paths come from
    the input: a layer named "\\x1b[2J" must not clear the terminal, nor "\\ud800" end in a traceback),
    and at most MAX_LINE characters (what a reader quoted unbounded is cut in the middle, saying so)."""
    text = printable(line)
    if len(text) > MAX_LINE:
        cut = len(text) - MAX_LINE
        text = f"{text[:MAX_LINE // 2]} ... ({cut:,} characters left out) ... {text[-MAX_LINE // 2:]}"
    sys.stderr.write(f"{text}\n")


def fail(messages: list[str], code: int, configs: tuple[str | None, ...] = ()) -> NoReturn:
    """Each message on its own line (one in a layer expression among `configs` pointed at), then how many
    there were when more than one, and exit with `code`."""
    for message in messages:
        for line in _pointed(message, configs):
            say(line)
    counted = [m for m in messages if "stopping after" not in m]
    if len(counted) > 1:
        sys.stderr.write(f"{len(counted)} problems\n")
    raise typer.Exit(code)


INTERRUPTED = b"lstmcount: interrupted\n"


@contextmanager
def guarded(*configs: str | None) -> Iterator[None]:
    """Turn lstmcount's exceptions into one message per problem and the documented exit code. A problem
    in a layer expression (one of `configs`) shows the expression with a caret under its column."""
    try:
        yield
    except LstmcountError as exc:
        messages = [f"lstmcount: {m}" if not _located(m) else m for m in exc.messages()]
        fail(messages, exc.exit_code, configs)
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


_EXPRESSION_AT = re.compile(r"<expression>:(\d+):(\d+): ")


def _pointed(message: str, configs: tuple[str | None, ...]) -> list[str]:
    """A problem's lines: the message, and when it is located in the one layer expression among
    `configs`, that line and a caret under the column, as Python points at a syntax error."""
    where = _EXPRESSION_AT.match(message)
    if where is None:
        return [message]
    from .inputs import is_expression

    expressions = [c for c in configs if c is not None and is_expression(c)]
    lines = expressions[0].splitlines() if len(expressions) == 1 else []
    line, column = int(where.group(1)), int(where.group(2))
    if not 0 < line <= len(lines):
        return [message]
    return [message, f"  {lines[line - 1]}", f"  {' ' * (column - 1)}^"]


def _located(message: str) -> bool:
    head = message.split(": ", 1)[0]
    return ":" in head or head.startswith(("<", "/", ".")) or head.endswith((".yaml", ".yml"))


def _color() -> bool:
    return sys.stdout is not None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


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


def framework_name(text: Any) -> str:
    """A --framework or --to value: a framework's name or a common alias (torch, tf.keras, tensorflow), in
    any case. Typer turns the name into a FrameworkName."""
    given = str(getattr(text, "value", text))
    key = FRAMEWORK_ALIASES.get(given.strip().lower(), given.strip().lower())
    names = [f.value for f in FrameworkName]
    if key not in names:
        near = difflib.get_close_matches(key, [*names, *FRAMEWORK_ALIASES], 1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise typer.BadParameter(f"{given!r} is not a framework lstmcount knows: {', '.join(names)} (or torch, "
                                 f"tf.keras, tensorflow){hint}")
    return key


def framework_names(incomplete: str) -> list[str]:
    """Shell completion of a framework name."""
    return [f.value for f in FrameworkName if f.value.startswith(incomplete.lower())]


ConfigArg = Annotated[str | None, typer.Argument(help="A YAML model spec (or - for standard input), a Keras "
                                                      ".keras/.json file, a PyTorch state_dict, an ONNX file, or a "
                                                      "layer expression such as 'LSTM(75, input_shape=(28, 28))' "
                                                      "or 'nn.LSTM(28, 75)' (read, never run).",
                                                 show_default=False)]
# The options that describe one layer from flags: declared once, given to a command by `layer_options`.
FLAG_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("units", Annotated[int | None, typer.Option("--units", "-u", help="Hidden size of the layer.")], None),
    ("input", Annotated[int | None, typer.Option("--input", "-i", help="Input features per time step (also for "
                                                                      "a layer expression that leaves them out).")],
     None),
    ("type", Annotated[LayerType, typer.Option("--type", "-t", case_sensitive=False, help="Layer type.")],
     LayerType.lstm),
    ("framework", Annotated[FrameworkName | None, typer.Option(
        "--framework", "-f", parser=framework_name, metavar="NAME", autocompletion=framework_names,
        show_default=False, help="Whose convention: keras (the default; also tf.keras, tensorflow), pytorch "
                                 "(also torch), onnx, tf1, cudnn, flax.")], None),
    ("bidirectional", Annotated[bool, typer.Option("--bidirectional", help="Both directions.")], False),
    ("num_layers", Annotated[int, typer.Option("--num-layers", help="Stacked layers; layer k>1 takes the previous "
                                                                    "layer's output.")], 1),
    ("no_bias", Annotated[bool, typer.Option("--no-bias", help="Layers without bias vectors.")], False),
    ("reset_after", Annotated[bool | None, typer.Option("--reset-after/--no-reset-after", show_default=False,
                                                        help="Keras GRU: a second bias (the default in Keras 3).")],
     None),
    ("proj_size", Annotated[int | None, typer.Option("--proj-size", help="LSTM projection: PyTorch proj_size, "
                                                                         "TF1 num_proj.")], None),
    ("peepholes", Annotated[bool, typer.Option("--peepholes", help="LSTM peephole weights (onnx, tf1).")], False),
)


class FlagOptions(NamedTuple):
    """The layer-from-flags options as a command received them."""

    units: int | None = None
    input: int | None = None
    type: LayerType = LayerType.lstm
    framework: FrameworkName | None = None
    bidirectional: bool = False
    num_layers: int = 1
    no_bias: bool = False
    reset_after: bool | None = None
    proj_size: int | None = None
    peepholes: bool = False

    def flags(self, config: str | None, need_units: bool = True) -> LayerFlags | None:
        """LayerFlags from these options, or None when a spec file or a layer expression is given instead
        (never both; an expression takes --input and -f, for what it does not say itself)."""
        if config is not None:
            from .inputs import is_expression

            expression = is_expression(config)
            given = [k for k, v in {"--units": self.units, "--input": None if expression else self.input,
                                    "--proj-size": self.proj_size, "--reset-after": self.reset_after}.items()
                     if v is not None]
            given += ["--framework"] if self.framework is not None and not expression else []
            given += [k for k, v in {"--bidirectional": self.bidirectional, "--no-bias": self.no_bias,
                                     "--peepholes": self.peepholes, "--num-layers": self.num_layers != 1}.items()
                      if v]
            if given and expression:
                raise UsageError(f"{', '.join(given)} describe a layer from flags; a layer expression says it "
                                 "itself (only --input and -f go with one, for what it leaves out)")
            if given:
                raise UsageError(f"{', '.join(given)} describe a layer from flags; they cannot be combined with "
                                 f"a model spec file ({config})")
            return None
        if (self.units is None and need_units) or self.input is None:
            raise UsageError("give a model spec file (lstmcount params model.yaml) or a layer from flags "
                             "(lstmcount params --units 75 --input 28)")
        framework = (self.framework or FrameworkName.keras).value
        return LayerFlags(self.type.value, framework, 1 if self.units is None else self.units, self.input,
                          self.bidirectional, self.num_layers, not self.no_bias, self.reset_after, self.proj_size,
                          self.peepholes)

    def load(self, config: str, key: str | None = None) -> "Model":
        """The model of a spec or Keras file, or of a layer expression (with these --input and -f)."""
        from . import inputs

        if not inputs.is_expression(config):
            return inputs.load(config, key)
        return inputs.load(config, key, features=self.input,
                           framework=None if self.framework is None else self.framework.value)

    def pick(self, config: str, layer: str | None, key: str | None = None) -> "Picked":
        """One recurrent layer (by name, or the only one) of a spec, Keras, tensor file or expression."""
        from . import inputs
        from .tools import pick

        if inputs.is_tensor_file(config):
            return pick(config, layer, key=key)
        return pick(_label(config), layer, self.load(config, key))


def _label(config: str) -> str:
    """How messages name a config: its path, or <expression> for a layer expression."""
    from .inputs import is_expression

    return "<expression>" if is_expression(config) else config


assert tuple(name for name, _, _ in FLAG_OPTIONS) == FlagOptions._fields


def layer_options(*without: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the layer-from-flags options (all but `without`), in place of its `layer_flags:
    FlagOptions` parameter: Typer sees each option, the command receives them as one FlagOptions."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command)
        taken = [(name, annotation, default) for name, annotation, default in FLAG_OPTIONS if name not in without]
        params: list[inspect.Parameter] = []
        for param in signature.parameters.values():
            if param.name == "layer_flags":
                params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                             annotation=annotation) for name, annotation, default in taken]
            else:
                params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def run(**kwargs: Any) -> None:
            options = FlagOptions(**{name: kwargs.pop(name) for name, _, _ in taken})
            command(layer_flags=options, **kwargs)

        run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        del run.__wrapped__  # Typer reads the signature above, not the command's own
        return run

    return decorate


DTypeOpt = Annotated[DType, typer.Option("--dtype", case_sensitive=False,
                                         help="Element type for the size in bytes.")]
StoredDTypeOpt = Annotated[DType | None, typer.Option(
    "--dtype", case_sensitive=False, show_default=False,
    help="Element type for the size in bytes [default: as a checkpoint stores each tensor; float32 otherwise].")]
KeyOpt = Annotated[str | None, typer.Option("--key", help="A PyTorch checkpoint's entry to read (a.b for one inside "
                                                          "another; a module path within a state_dict).")]
OutputOpt = Annotated[str | None, typer.Option("--output", "-O", help="Write the report to this file "
                                                                      "(atomically) instead of stdout.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shortcut for --format json.")]


@app.command()
@layer_options()
def params(
    config: ConfigArg = None, layer_flags: FlagOptions = FlagOptions(),
    fmt: Annotated[Format, typer.Option("--format", "-o", case_sensitive=False,
                                        help="Output format.")] = Format.table,
    json_: JsonOpt = False, dtype: StoredDTypeOpt = None,
    check: Annotated[bool, typer.Option("--check", help="Check the spec's expect: block (exit 1 if it "
                                                        "fails); needs no framework.")] = False,
    timesteps: Annotated[int | None, typer.Option("--timesteps", "-T", min=1, help="Also count MACs for one "
                                                  "sample over this many time steps (a free time axis).")] = None,
    per_step: Annotated[list[str] | None, typer.Option(
        "--per-step", help="With --timesteps: count this module at every time step (a PyTorch Linear on each of "
                           "an LSTM's outputs); repeatable.", show_default=False)] = None,
    key: KeyOpt = None, output: OutputOpt = None,
) -> None:
    """Count parameters per layer and per gate, from flags, a layer expression or a model file."""
    from . import conventions, inputs
    from .accounting import check_expect, report
    from .conventions.flags import flags_layout
    from .output import write
    from .render import renderer

    with guarded(config):
        flags = layer_flags.flags(config)
        model = None
        steps = (timesteps, tuple(per_step or ()))
        asked = dtype.value if dtype is not None else None
        if flags is None:
            assert config is not None
            if inputs.is_tensor_file(config):
                if check:
                    raise UsageError("--check needs a spec with an expect: block; a state_dict has none")
                rep = report(inputs.read_tensor_file(config, key), asked, *steps)
            else:
                model = layer_flags.load(config, key)
                rep = report(conventions.layout(model), asked, *steps)
                if model.saved_by:
                    say(f"{model.source}: saved by {model.saved_by}")
            if check and model is not None and not model.expect:
                raise UsageError(f"{model.source}: --check needs an expect: block (e.g. expect: {{total: 31960}})")
        else:
            if check:
                raise UsageError("--check checks a spec file's expect: block; it needs a model spec file")
            _no_key(key)
            rep = report(flags_layout(flags), asked, *steps)
        chosen = Format.json if json_ else fmt
        write(renderer(chosen.value)(rep, color=_color() and output is None), output, inputs=(config,))
        notes(config or "flags", rep.notes)
        if check and model is not None:
            failures = check_expect(rep, model.expect)
            if failures:
                fail([f"{model.source}: {f}" for f in failures] + [f"{model.source}: check FAILED"], 1)
            say(f"{model.source}: check ok ({', '.join(sorted(model.expect or {}))})")


@app.command()
@layer_options()
def layout(
    config: ConfigArg = None, layer_flags: FlagOptions = FlagOptions(),
    to: Annotated[FrameworkName | None, typer.Option("--to", parser=framework_name, metavar="NAME",
                                                     autocompletion=framework_names, help="Print the recipe that "
                                                     "converts these weights to another framework's layout.")] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="With a spec or model file: only this layer (by "
                                                              "name); with --to, the recurrent layer to convert "
                                                              "(needed when there are several).")] = None,
    save: Annotated[str | None, typer.Option("--save", help="With --to and a state_dict or ONNX file: also "
                                                            "write the converted weights to this NumPy .npz "
                                                            "file (by target tensor name).")] = None,
    max_memory: Annotated[str, typer.Option("--max-memory", metavar="SIZE", help="With --save: refuse to "
                                                                 "convert weights that would take more memory "
                                                                 "than this.")] = "1GiB",
    key: KeyOpt = None, json_: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """Show every weight tensor: its shape, gate axis and each gate's [start, stop) slice, in storage order."""
    from . import conventions, inputs
    from .conventions.flags import flags_layout
    from .output import write
    from .render.layout import recipe_json, recipe_text, render_json, render_table

    with guarded(config):
        flags = layer_flags.flags(config)
        if flags is not None and layer is not None:
            raise UsageError("--layer goes with a spec or model file")
        if to is not None:
            from .convert import recipe

            if flags is not None:
                _no_key(key)
                rec = recipe(flags, to.value)
            else:
                picked = layer_flags.pick(config or "-", layer, key)
                rec = recipe(picked.flags, to.value, picked.tensor_names())
            if save is not None:
                if flags is not None or not picked.tensor_file:
                    raise UsageError("--save converts the weights stored in a state_dict or ONNX file; a spec, a "
                                     "Keras file or flags give no weights to convert")
                from .convert import npz, npz_bytes, sources
                from .render import human_bytes

                limit = parse_size(max_memory, "--max-memory")
                arrays = inputs.tensor_arrays(config or "-", key, sources(rec))
                need = npz_bytes(rec, arrays)
                if need > limit:
                    raise UsageError(f"{config}: --save: converting layer {picked.layer.name}'s weights takes about "
                                     f"{human_bytes(need)} of memory (its tensors at float64 while they are built, "
                                     f"and the .npz), over the {human_bytes(limit)} limit; raise it with "
                                     "--max-memory if you mean it")
                write(npz(rec, arrays), save, "--save", inputs=(config,))
                say(f"{save}: {len({s.target for s in rec.steps})} converted tensors for {to.value}"
                    f"{'' if rec.exact else ' (NOT exact: see the notes)'}")
                bf16 = [name for w, name in zip(picked.layer.weights, picked.tensor_names().values(), strict=True)
                        if w.dtype == "bfloat16"]
                if bf16:
                    say(f"{save}: note: {', '.join(bf16[:4])}{' ...' if len(bf16) > 4 else ''} stored as "
                        "bfloat16, which NumPy has not: written as float32 (exactly the same values)")
            write(recipe_json(rec) if json_ else recipe_text(rec), output, inputs=(config,))
            return
        if save is not None:
            raise UsageError("--save goes with --to")
        if flags is not None:
            _no_key(key)
            lay = flags_layout(flags)
        elif inputs.is_tensor_file(config or "-"):
            lay = inputs.read_tensor_file(config or "-", key)
        else:
            lay = conventions.layout(layer_flags.load(config or "-", key))
        if layer is not None:
            chosen = [each for each in lay.layers if each.name == layer]
            if not chosen:
                raise UsageError(f"--layer {layer!r}: no such layer (the model's layers are "
                                 f"{', '.join(each.name for each in lay.layers)})")
            lay = lay._replace(layers=tuple(chosen))
        write(render_json(lay) if json_ else render_table(lay, color=_color() and output is None), output,
              inputs=(config,))
        notes(config or "flags", lay.notes)


@app.command()
@layer_options()
def compare(
    config: ConfigArg = None,
    layer: Annotated[str | None, typer.Option("--layer", help="With a spec or model file: the recurrent layer "
                                                              "to compare (by name; needed when there are "
                                                              "several).")] = None,
    layer_flags: FlagOptions = FlagOptions(), key: KeyOpt = None, json_: JsonOpt = False, output: OutputOpt = None,
) -> None:
    """The same layer in every framework and variant, side by side, with why each count differs."""
    from .output import write
    from .render.tools import compare_json, compare_table
    from .tools import compare as rows

    with guarded(config):
        flags = layer_flags.flags(config)
        if flags is None:
            picked = layer_flags.pick(config or "-", layer, key)
            notes(config or "-", picked.layout.notes)
            flags = picked.flags
        elif layer is not None:
            raise UsageError("--layer goes with a spec or model file")
        else:
            _no_key(key)
        result = rows(flags)
        write(compare_json(result) if json_ else compare_table(result, flags, color=_color() and output is None),
              output, inputs=(config,))


@app.command()
@layer_options("units")
def solve(
    config: ConfigArg = None,
    budget: Annotated[str | None, typer.Option("--budget", metavar="COUNT", help="Parameter budget, e.g. "
                                                                                 "100000, 250k, 1M or 2.5e6.")]
    = None,
    max_bytes: Annotated[str | None, typer.Option("--max-bytes", metavar="SIZE", help="Memory budget for the "
                                                  "weights, e.g. 64KiB or 1M; with --dtype.")] = None,
    layer: Annotated[str | None, typer.Option("--layer", help="With a spec or model file: the layer whose size "
                                                              "to solve for (by name; by default the only "
                                                              "recurrent layer).")] = None,
    layer_flags: FlagOptions = FlagOptions(), dtype: DTypeOpt = DType.float32, key: KeyOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The largest units (or a spec layer's size) whose layer or model fits a parameter or byte budget."""
    from . import conventions, inputs
    from .accounting import DTYPE_BYTES
    from .tools import pick, solve_flags, solve_model

    with guarded(config):
        if (budget is None) == (max_bytes is None):
            raise UsageError("give exactly one of --budget N (parameters) or --max-bytes SIZE (with --dtype)")
        limit = parse_count(budget, "--budget") if budget is not None else \
            parse_size(max_bytes or "", "--max-bytes") // DTYPE_BYTES[dtype.value]
        if limit < 1:
            raise UsageError(f"the budget must be at least 1 parameter, got {limit}")
        flags = layer_flags.flags(config, need_units=False)
        if flags is None:
            path = config or "-"
            if inputs.is_tensor_file(path):  # the file's other tensors keep their shapes
                picked = pick(path, layer, key=key)
                picked.check_plain("solve for its size")
                arg, what = "hidden_size", f"{picked.layer.name}.hidden_size"
                sol = solve_flags(picked.flags, limit, picked.layout.params - picked.layer.params, what)
            else:
                model = layer_flags.load(path, key)
                only = pick(_label(path), None, model) if layer is None else None
                notes(path, (only.layout if only is not None else conventions.layout(model)).notes)
                name = only.layer.name if only is not None else layer or ""
                arg, sol = solve_model(model, name, limit)
                what = f"{name}.{arg}"
        else:
            if layer is not None:
                raise UsageError("--layer goes with a spec or model file")
            _no_key(key)
            sol = solve_flags(flags, limit)
            arg, what = "units", "units"
        if json_:
            from .render.tools import solve_json

            sys.stdout.write(solve_json(sol, arg, limit))
        else:
            sys.stdout.write(f"{printable(what)} = {sol.units:,}: {sol.params:,} parameters (budget {limit:,}; "
                             f"{sol.units + 1:,} would need {sol.next_params:,})\n")


def notes(source: str, lines: tuple[str, ...]) -> None:
    """What a report asks the user to read beside its numbers (tied tensors, entries left out, MACs
    counted once, Keras's warnings for an argument), on stderr: the report itself stays what scripts
    parse. A note that says where it stands (file:line:col) is printed as it is."""
    for line in lines:
        say(line if line.startswith(f"{source}:") or _located(line) else f"{source}: note: {line}")


def _no_key(key: str | None) -> None:
    if key is not None:
        raise UsageError("--key picks an entry of a PyTorch checkpoint; flags describe one layer")


COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
SIZE_UNITS = {**COUNT_UNITS, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
MAX_DIGITS = 30  # no budget or size of any model comes near 10**30


def _amount(text: str, flag: str, units: dict[str, int], what: str, example: str) -> int:
    """A whole amount written as people write it: `1_000_000`, `2.5e6`, `250k`, `64KiB`. Exact: decimal
    arithmetic with the precision the digits need, no float."""
    from decimal import Decimal, InvalidOperation, localcontext

    match = re.fullmatch(r"([0-9_.eE+-]+) ?([A-Za-z]*)", text.strip())
    written = match.group(2) if match else ""
    unit = written.lower().removesuffix("b") if what == "bytes" else written.lower()
    try:
        value = Decimal(match.group(1)) if match and unit in units else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        in_bytes = what != "bytes" and written.lower() not in COUNT_UNITS and \
            written.lower().removesuffix("b") in SIZE_UNITS
        hint = f" ({written} is a size in bytes; this counts parameters)" if in_bytes else ""
        raise UsageError(f"{flag} {text!r}: give {example}{hint}")
    if value.adjusted() >= MAX_DIGITS:
        raise UsageError(f"{flag} {text!r}: larger than any model (at most 10^{MAX_DIGITS})")
    with localcontext() as exact:
        exact.prec = len(value.as_tuple().digits) + MAX_DIGITS
        amount = value * units[unit]
        if amount != amount.to_integral_value():
            raise UsageError(f"{flag} {text!r} is {amount.normalize():f} {what}; it must be a whole number")
    if amount <= 0:
        raise UsageError(f"{flag} {text!r}: must be at least 1")
    return int(amount)


def parse_count(text: str, flag: str) -> int:
    """`100000`, `1_000_000`, `2.5e6`, `250k`, `1M` -> a number of parameters; `flag` names the option."""
    return _amount(text, flag, COUNT_UNITS, "parameters", "a count such as 100000, 250k, 1M or 2.5e6")


def parse_size(text: str, flag: str) -> int:
    """`1GiB`, `512MiB`, `2GB`, `64k`, `1000000` -> bytes (k, M, G, T are powers of 1000; Ki, Mi, Gi, Ti
    of 1024; the B is optional); `flag` names the option in the message."""
    return _amount(text, flag, SIZE_UNITS, "bytes", "a size such as 512MiB, 2GiB or 1e6")


@app.command()
@layer_options("peepholes")
def verify(
    configs: Annotated[list[str] | None, typer.Argument(help="YAML model specs (or - for standard input), Keras "
                                                             ".keras/.json files, PyTorch state_dicts, ONNX "
                                                             "files, layer expressions.", show_default=False)] = None,
    layer_flags: FlagOptions = FlagOptions(),
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable results.")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Also print the framework's own summary "
                                                            "(Keras model.summary(), PyTorch module listing).")]
    = False,
    max_memory: Annotated[str, typer.Option("--max-memory", metavar="SIZE", help="Refuse to build a model whose "
                                                                 "weights would take more than this.")] = "1GiB",
    max_layers: Annotated[int, typer.Option("--max-layers", min=1, help="Refuse to build a model of more "
                                                                        "layers than this.")] = 2_000,
    output: Annotated[str | None, typer.Option("--output", "-O", help="Write the results to this file "
                                                                      "(atomically) instead of stdout.")] = None,
    key: KeyOpt = None,
) -> None:
    """Build each model (or the layer the flags describe) in the real framework and reconcile it with the
    analytic count, weight by weight.

    Exit 0 when every file matches (and its expect: block holds), 1 when any does not.
    """
    from .output import write
    from .render.verify import render_json, render_table
    from .verify import run

    with guarded(*(configs or [])):
        limit = parse_size(max_memory, "--max-memory")
        flags = layer_flags.flags(configs[0] if configs else None)
        for config in (configs or [])[1:]:
            layer_flags.flags(config)
        results, versions, said = run(configs or [], flags, summary, limit, _interrupt_ends_process, max_layers,
                                      key, layer_flags.load)
        for line in said:
            sys.stderr.write(f"{line}\n")
        text = render_json(results, versions) if json_ else render_table(results, versions,
                                                                         color=_color() and output is None)
        write(text, output, inputs=tuple(configs or ()))
        for res in results:
            notes(res.path, res.report.notes + res.notes)
        if not json_:
            ok = sum(r.ok for r in results)
            sys.stderr.write(f"{ok} of {len(results)} file(s) verified\n")
        if not all(r.ok for r in results):
            raise typer.Exit(1)


@app.command()
def check(
    files: Annotated[list[str], typer.Argument(help="Model specs; with --budget, also Keras, state_dict and ONNX "
                                                    "files and layer expressions.", show_default=False)],
    budget: Annotated[str | None, typer.Option("--budget", metavar="COUNT", help="Also fail every file whose "
                                               "total is over this (e.g. 1M); files without an expect: block are "
                                               "then counted too.")] = None,
) -> None:
    """Check the expect: blocks of model specs, as a pre-commit hook or a CI step does; files without one
    are skipped. Exit 1 if a check fails, 2 if a file cannot be read as a model."""
    from .tools import check_file

    with guarded():
        limit = None if budget is None else parse_count(budget, "--budget")
    counts = {"ok": 0, "failed": 0, "skipped": 0, "unreadable": 0}
    for path in files:
        try:
            done = check_file(path, limit)
        except LstmcountError as exc:
            counts["unreadable"] += 1
            for m in exc.messages():
                for line in _pointed(m if _located(m) else f"{path}: {m}", (path,)):
                    say(line)
            continue
        if not done.checked:
            counts["skipped"] += 1
        elif done.failures:
            counts["failed"] += 1
            for line in [*(f"{done.source}: {f}" for f in done.failures), f"{done.source}: check FAILED"]:
                say(line)
        else:
            counts["ok"] += 1
            say(f"{done.source}: check ok ({', '.join(done.checked)})")
    sys.stderr.write(", ".join(f"{n} {what}" for what, n in counts.items() if n or what == "ok") + "\n")
    if counts["unreadable"] or counts["failed"]:
        raise typer.Exit(2 if counts["unreadable"] else 1)


class SchemaName(str, Enum):
    params = "params"
    layout = "layout"
    recipe = "recipe"
    compare = "compare"
    solve = "solve"
    verify = "verify"


@app.command()
def schema(
    name: Annotated[SchemaName | None, typer.Argument(case_sensitive=False, show_default=False,
                                                      help="Which output's schema; without it, the list.")] = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of a command's --json output; every such output carries its
    schema_version."""
    from .render.schema import SCHEMAS, schema_text

    if name is None:
        width = max(map(len, SCHEMAS))
        sys.stdout.write("".join(f"{n:<{width}}  {what}\n" for n, what in SCHEMAS.items()))
        return
    sys.stdout.write(schema_text(name.value))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - outside a command
        sys.stderr.write(INTERRUPTED.decode())
        sys.exit(130)
