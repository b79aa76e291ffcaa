"""The `lstmcount` command line: thin Typer commands over the library.

Exit codes: 0 ok, 1 a check failed, 2 bad input or usage, 3 an optional framework is missing,
130 interrupted. Reports go to stdout; errors, verdicts and warnings to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, NoReturn

import typer

from .errors import LstmcountError, UsageError

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


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    csv = "csv"


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    int8 = "int8"


def fail(messages: list[str], code: int) -> NoReturn:
    for line in messages:
        sys.stderr.write(f"{line}\n")
    if len(messages) > 1:
        sys.stderr.write(f"{len(messages)} problems\n")
    raise typer.Exit(code)


@contextmanager
def guarded() -> Iterator[None]:
    """Turn lstmcount's exceptions into one message per problem and the documented exit code."""
    try:
        yield
    except LstmcountError as exc:
        fail([f"lstmcount: {m}" if not _located(m) else m for m in exc.messages()], exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("lstmcount: interrupted\n")
        raise typer.Exit(130) from None
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


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


@app.command()
def params(
    config: Annotated[str | None, typer.Argument(help="A YAML model spec, or - for standard input.",
                                                 show_default=False)] = None,
    units: Annotated[int | None, typer.Option("--units", "-u", help="Hidden size of the layer.")] = None,
    input: Annotated[int | None, typer.Option("--input", "-i", help="Input features per time step.")] = None,
    type: Annotated[LayerType, typer.Option("--type", "-t", case_sensitive=False,
                                            help="Layer type.")] = LayerType.lstm,
    framework: Annotated[FrameworkName, typer.Option("--framework", "-f", case_sensitive=False,
                                                     help="Whose convention to count in.")] = FrameworkName.keras,
    bidirectional: Annotated[bool, typer.Option("--bidirectional", help="Both directions.")] = False,
    num_layers: Annotated[int, typer.Option("--num-layers", help="Stacked layers; layer k>1 takes the "
                                                                 "previous layer's output.")] = 1,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="Layers without bias vectors.")] = False,
    reset_after: Annotated[bool | None, typer.Option("--reset-after/--no-reset-after",
                                                     help="Keras GRU: a second bias (the default in Keras 3).",
                                                     show_default=False)] = None,
    proj_size: Annotated[int | None, typer.Option("--proj-size", help="PyTorch LSTM projection size.")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-o", case_sensitive=False,
                                        help="Output format.")] = Format.table,
    json_: Annotated[bool, typer.Option("--json", help="Shortcut for --format json.")] = False,
    dtype: Annotated[DType, typer.Option("--dtype", case_sensitive=False,
                                         help="Element type for the size in bytes.")] = DType.float32,
    check: Annotated[bool, typer.Option("--check", help="Check the spec's expect: block (exit 1 if it "
                                                        "fails); needs no framework.")] = False,
    output: Annotated[str | None, typer.Option("--output", "-O", help="Write the report to this file "
                                                                      "(atomically) instead of stdout.")] = None,
) -> None:
    """Count parameters per layer and per gate, from flags or from a YAML model spec."""
    from . import api, spec
    from .accounting import check_expect
    from .output import write
    from .render import renderer

    with guarded():
        layer_flags = {"--units": units, "--input": input, "--proj-size": proj_size,
                       "--reset-after": reset_after}
        if config is not None:
            given = [k for k, v in layer_flags.items() if v is not None]
            given += [k for k, v in {"--bidirectional": bidirectional, "--no-bias": no_bias,
                                     "--num-layers": num_layers != 1}.items() if v]
            if given:
                raise UsageError(f"{', '.join(given)} describe a layer from flags; they cannot be combined with "
                                 f"a model spec file ({config})")
            model = spec.load(config)
        else:
            if units is None or input is None:
                raise UsageError("give a model spec file (lstmcount params model.yaml) or a layer from flags "
                                 "(lstmcount params --units 75 --input 28)")
            if check:
                raise UsageError("--check checks a spec file's expect: block; it needs a model spec file")
            model = spec.model_from_flags(spec.LayerFlags(
                type.value, framework.value, units, input, bidirectional, num_layers, not no_bias, reset_after,
                proj_size))
        rep = api.model_report(model, dtype.value)
        if check and not model.expect:
            raise UsageError(f"{model.source}: --check needs an expect: block (e.g. expect: {{total: 31960}})")
        chosen = Format.json if json_ else fmt
        write(renderer(chosen.value)(rep, color=_color() and output is None), output)
        if check:
            failures = check_expect(rep, model.expect)
            if failures:
                fail([f"{model.source}: {f}" for f in failures] + [f"{model.source}: check FAILED"], 1)
            sys.stderr.write(f"{model.source}: check ok ({', '.join(sorted(model.expect or {}))})\n")


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
    configs: Annotated[list[str], typer.Argument(help="YAML model specs (or - for standard input).",
                                                 show_default=False)],
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable results.")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Also print the framework's own summary "
                                                            "(Keras model.summary(), PyTorch module listing).")]
    = False,
    max_memory: Annotated[str, typer.Option("--max-memory", help="Refuse to build a Keras model whose weights "
                                                                 "would take more than this.")] = "1GiB",
    output: Annotated[str | None, typer.Option("--output", "-O", help="Write the results to this file "
                                                                      "(atomically) instead of stdout.")] = None,
) -> None:
    """Build each model in the real framework and reconcile it with the analytic count, weight by weight.

    Exit 0 when every file matches (and its expect: block holds), 1 when any does not.
    """
    from . import spec
    from .accounting import report
    from .bridges import bridge
    from .conventions import layout
    from .output import write
    from .render import human_bytes
    from .render.verify import render_json, render_table
    from .verify import reconcile

    with guarded():
        limit = parse_size(max_memory)
        if configs.count("-") > 1:
            raise UsageError("standard input (-) can be read only once")
        models = [spec.load(path) for path in configs]
        layouts = [layout(m) for m in models]
        reports = [report(lay) for lay in layouts]
        for model, rep in zip(models, reports, strict=True):
            need = rep.total * 4
            if model.framework == "keras" and need > limit:
                raise UsageError(f"{model.source}: building it would allocate {human_bytes(need)} of float32 "
                                 f"weights ({rep.total:,} parameters), over the {human_bytes(limit)} limit; "
                                 f"raise it with --max-memory if you mean it")
        builders = {fw: bridge(fw) for fw in dict.fromkeys(m.framework for m in models)}
        versions = {fw: _framework_version(fw) for fw in builders}
        results = []
        for model, lay, rep in zip(models, layouts, reports, strict=True):
            built = builders[model.framework](model, lay, summary)
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
        return md.version("keras" if framework == "keras" else "torch")
    except md.PackageNotFoundError:  # pragma: no cover
        return ""


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - outside a command
        sys.stderr.write("lstmcount: interrupted\n")
        sys.exit(130)
