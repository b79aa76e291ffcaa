"""Reports in notebooks: the API's reports carry Jupyter's display methods, and what they render is the
Markdown format's table, cell for cell, with numbers that add up."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

import lstmcount
from lstmcount.accounting import Report
from lstmcount.render import renderer

from .conftest import CONFIGS
from .test_graph_walk import SEQ2SEQ


class _Table(HTMLParser):
    """The rows of an HTML table (cell texts), the caption, and the list items after it."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.items: list[str] = []
        self.caption = ""
        self._text: list[str] | None = None
        self._in = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "li", "caption"):
            self._text, self._in = [], tag

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in and self._text is not None:
            text = "".join(self._text)
            if tag in ("td", "th"):
                self.rows[-1].append(text)
            elif tag == "li":
                self.items.append(text)
            else:
                self.caption = text
            self._text, self._in = None, ""


def _markdown_rows(text: str) -> list[list[str]]:
    table = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip().strip("`").replace("**", "") for c in line.strip("|").split("|")]
            for line in table if not line.startswith("|---")]


def _number(text: str) -> int:
    return int(text.replace(",", "")) if text else 0


NESTED = """
inputs: {x: [null, 8]}
layers:
  - {type: Dense, units: 8, name: shared, inputs: x}
  - {reuse: shared, name: again, inputs: shared}
  - type: Sequential
    name: inner
    inputs: again
    layers: [{type: LSTM, units: 3, return_sequences: true}, {type: Dense, units: 2}]
outputs: [inner]
"""
SOURCES = [str(c) for c in CONFIGS] + [SEQ2SEQ, NESTED]


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in CONFIGS] + ["seq2seq", "nested"])
def test_html_is_the_markdown_table(source):
    rep = lstmcount.analyze(source)
    assert isinstance(rep, Report)
    html, markdown = rep._repr_html_(), rep._repr_markdown_()
    assert markdown == renderer("markdown")(rep)
    parsed = _Table()
    parsed.feed(html)
    assert parsed.rows == _markdown_rows(markdown)
    assert parsed.caption == f"{rep.name or 'model'} ({rep.framework})"
    md_items = [line[2:].replace("`", "") for line in markdown.splitlines() if line.startswith("- ")]
    assert parsed.items == md_items
    # the numbers: a layer row is the sum of its gate and extra rows, and the layers add up to the total
    body, total = parsed.rows[1:-1], parsed.rows[-1]
    layers = [k for k, row in enumerate(body) if row[0]]
    top = [k for k in layers if "/" not in body[k][0]]  # a nested model's layers are named inner/lstm
    assert sum(_number(body[k][7]) for k in top) == _number(total[7]) == rep.total
    for k, end in zip(layers, [*layers[1:], len(body)], strict=True):
        parts = body[k + 1:end]
        if parts:
            for col in (4, 5, 6, 7):
                assert _number(body[k][col]) == sum(_number(p[col]) for p in parts), (body[k], col)


def test_the_seed_model_in_a_notebook():
    rep = lstmcount.analyze(str(CONFIGS[0].parent / "mnist_lstm.yaml"))
    html = rep._repr_html_()
    assert "<tr><td><code>lstm</code></td><td>LSTM</td><td></td><td><code>(None, 75)</code></td>" in html
    assert '<td style="text-align: right"><b>31,960</b></td>' in html
    assert "<li><code>lstm</code>: 4 × ((28 + 75) × 75 + 75) = 31,200</li>" in html
    assert "| `dense` | Dense |  | `(None, 10)` |  |  |  | 760 |" in rep._repr_markdown_()


def test_a_graph_shows_what_each_call_reads():
    html = lstmcount.analyze(SEQ2SEQ)._repr_html_()
    assert "<th>Connected to</th>" in html
    assert "<td>dec_in[0][0], encoder[0][1], encoder[0][2]</td></tr>" in html


def test_names_are_escaped():
    rep = lstmcount.analyze("input_shape: [null, 3]\nlayers: [{type: LSTM, units: 2, name: '<b>&x'}]\nname: a<b>\n")
    html = rep._repr_html_()
    assert "<code>&lt;b&gt;&amp;x</code>" in html and "<caption>a&lt;b&gt; (keras)</caption>" in html
    assert "<b>&x" not in html


@pytest.mark.parametrize("source", ["LSTM(75, input_shape=(28, 28))", "nn.LSTM(28, 75)"])
def test_every_api_report_displays(source):
    for rep in (lstmcount.analyze(source), lstmcount.model_report(lstmcount.inputs.load(source))):
        assert rep._repr_markdown_() == renderer("markdown")(rep)
        assert f"<b>{rep.total:,}</b>" in rep._repr_html_()


def test_params_html_format_is_the_notebook_table(cli):
    config = str(CONFIGS[0])
    assert cli("params", config, "-o", "html").stdout == lstmcount.analyze(config)._repr_html_()
