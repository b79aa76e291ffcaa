"""The JSON Schemas of the --json outputs, shipped in the package (lstmcount/schemas/*.json)."""

from __future__ import annotations

from importlib import resources

# name -> the output it describes
SCHEMAS = {
    "params": "lstmcount params --json (and --format yaml): the report",
    "layout": "lstmcount layout --json: every weight tensor and its gate slices",
    "recipe": "lstmcount layout --to FRAMEWORK --json: the conversion recipe",
    "compare": "lstmcount compare --json: the layer in every framework",
    "solve": "lstmcount solve --json: the largest size within a budget",
    "verify": "lstmcount verify --json: the reconciliation with the real framework",
}


def schema_text(name: str) -> str:
    """The schema file's text, as shipped."""
    return (resources.files("lstmcount") / "schemas" / f"{name}.json").read_text(encoding="utf-8")
