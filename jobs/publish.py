"""Publish the result tables and the CLI reference: every table in README.md and docs/ is generated.

A Markdown file holds marked blocks::

    <!-- table: NAME -->
    ...generated...
    <!-- /table -->

``python -m jobs.publish`` rewrites each block from its entry in ``results_records/tables.yaml``
(which record, which columns, caption with units and protocol, the command that reruns the
study) and ``docs/cli.md`` from the argparse parsers of the command lines. ``--check`` writes
nothing and exits 1 naming every stale block, so the documentation cannot drift from the records
(``tests/test_docs_published.py`` runs the same check). ``python -m jobs.publish record RESULTS
--study S --out FILE`` turns a job list's finished lines into a compact record (tidy trial rows,
no machine paths, with the code version of each row).

Table kinds (``kind`` in the spec):

- ``rows`` (default): the record's rows as they are, its columns (all but the provenance ones,
  or ``columns``) in order.
- ``trials``: tidy trial rows (from ``record``) filtered by ``filter``, summarised as the job
  lists' aggregation does (Spearman averaged over a task's targets per trial, then mean ± std over
  trials), one row per ``rows`` value (a column, or a list of columns joined by " / "; labelled
  and ordered by ``row_labels``), one column per task of ``columns``, a geometric-mean column,
  optionally the best value per column in bold.
- ``headline``: the README's summary (geometric means per space and k, ours beside published).
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import pandas as pd
import yaml

from nas_embedding_suite.errors import ArgumentParser, NasflatError, run_reporting_errors
from nas_embedding_suite.output_files import atomic_write_text

from jobs.aggregate import collect, geometric_mean, summarise

REPO = Path(__file__).resolve().parent.parent
SPEC = Path("results_records/tables.yaml")
#: Files whose marked blocks are published (relative to the repository root).
MARKDOWN_GLOBS = ("README.md", "docs/*.md")
CLI_REFERENCE = Path("docs/cli.md")
#: Columns of a record that say where a row comes from; not shown as table columns.
PROVENANCE = ("provenance", "code_commit", "code_fingerprint")
#: The command lines documented in docs/cli.md: (how it is called, module with build_parser()).
#: The modules are scripts; they are loaded by name, only to read their parsers.
CLIS = (
    ("python correlation_trainer/main.py", "correlation_trainer.main"),
    ("python correlation_trainer/predict.py", "correlation_trainer.predict"),
    ("python correlation_trainer/search.py", "correlation_trainer.search"),
    ("python -m nas_embedding_suite", "nas_embedding_suite.cli"),
    ("parallelized_executor.sh", "jobs.executor"),
    ("python -m jobs.aggregate", "jobs.aggregate"),
    ("python -m jobs.comparison", "jobs.comparison"),
    ("python -m jobs.search_summary", "jobs.search_summary"),
    ("python -m jobs.publish", "jobs.publish"),
)
BLOCK = re.compile(r"^<!-- table: (?P<name>[\w.-]+) -->\n(?P<body>.*?)^<!-- /table -->", re.S | re.M)
#: Trial-row columns a record keeps (beyond them, settings that differ are in ``variant``).
RECORD_COLUMNS = ("study", "method", "variant", "space", "task", "target_device", "source_size", "k", "trial",
                  "spr", "kdt", "mape", "within10", "n_eval", "line_id")


@dataclass
class Stale:
    """A marked block whose text differs from what its record generates."""
    path: Path
    name: str
    reason: str


def load_spec(root: Path = REPO) -> Dict[str, dict]:
    """The table definitions of ``results_records/tables.yaml``, by name."""
    path = root / SPEC
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise NasflatError(f"cannot read the table spec {path}: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("tables"), dict):
        raise NasflatError(f"{path} must hold a mapping 'tables: {{name: definition}}'")
    return spec["tables"]


def read_record(root: Path, relative: str) -> pd.DataFrame:
    """A record CSV as text cells (numbers exactly as written)."""
    path = root / relative
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise NasflatError(f"cannot read the record {path}: {exc}") from None


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _short(commit: str) -> str:
    return commit[:7] if re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit) else commit


def provenance_note(record: pd.DataFrame, definition: dict) -> str:
    """Where the numbers come from (per kind of provenance in the record) and how to rerun them,
    said under each table."""
    sources = ", ".join(f"`{r}`" for r in [definition["record"]] + list(definition.get("also_records", [])))
    column = (lambda name: record[name] if name in record.columns else pd.Series(["unknown"] * len(record)))
    parts = []
    for kind, rows in record.assign(_kind=column("provenance").values).groupby("_kind", sort=True):
        commits = ", ".join(dict.fromkeys(_short(c) for c in column("code_commit")[rows.index]))
        if kind == "transcribed_from_readme":
            parts.append("the raw result rows were not kept: the numbers are as recorded in the README at "
                         f"commit {commits} (each row's commit is in its record)")
        elif kind == "transcribed_from_spec":
            parts.append(f"published numbers transcribed from {definition.get('origin', 'their source')}")
        else:
            fingerprints = sorted(set(column("code_fingerprint")[rows.index]) - {"", "unknown"})
            parts.append(f"generated from {len(rows)} committed trial rows ({kind}, commit {commits})"
                         + (f", fingerprint {', '.join(fingerprints)}" if fingerprints else ""))
    note = f"Record {sources}: " + "; ".join(parts) + "."
    if definition.get("command"):
        note += f" Rerun: `{definition['command']}`."
    return note


def render_rows(root: Path, definition: dict) -> str:
    """A ``rows`` table: the record's cells as written."""
    record = read_record(root, definition["record"])
    columns = definition.get("columns") or [c for c in record.columns if c not in PROVENANCE]
    missing = [c for c in columns if c not in record.columns]
    if missing:
        raise NasflatError(f"{definition['record']} lacks the column(s) {', '.join(missing)}")
    return _framed(definition, markdown_table(columns, record[columns].values.tolist()), record)


def _framed(definition: dict, table: str, record: pd.DataFrame) -> str:
    parts = [f"<!-- generated by `python -m jobs.publish` from {definition['record']}: edit the record or "
             f"results_records/tables.yaml, not this block -->"]
    if definition.get("caption"):
        parts += [definition["caption"].strip(), ""]
    parts += [table, "", provenance_note(record, definition)]
    return "\n".join(parts) + "\n"


def _bold_best(values: Dict[str, str], numbers: Dict[str, float], exclude: Sequence[str]) -> Dict[str, str]:
    """Bold the rows whose value, as shown (3 decimals), is the column's best; ``exclude`` rows
    (an oracle) neither compete nor get bold."""
    shown = {label: round(v, 3) for label, v in numbers.items() if label not in exclude and pd.notna(v)}
    if not shown:
        return values
    best = max(shown.values())
    return {label: f"**{text}**" if shown.get(label) == best else text for label, text in values.items()}


def numeric_trials(rows: pd.DataFrame) -> pd.DataFrame:
    """Trial rows of a record (text cells) with their metrics as numbers, as ``summarise`` takes them."""
    tidy = rows.copy()
    for column in ("spr", "kdt", "mape", "within10"):
        if column in tidy.columns:
            tidy[column] = pd.to_numeric(tidy[column].replace("", "nan"))
    tidy["trial"] = tidy["trial"].astype(int)
    return tidy


def render_trials(root: Path, definition: dict) -> str:
    """A ``trials`` table: a summary of tidy trial rows, one row per setting, one column per task."""
    record = read_record(root, definition["record"])
    rows = record
    for column, value in (definition.get("filter") or {}).items():
        rows = rows[rows[column] == str(value)]
    if rows.empty:
        raise NasflatError(f"no row of {definition['record']} matches {definition.get('filter')}")
    summary = summarise(numeric_trials(rows))
    by = definition["rows"]
    labels: Dict[str, str] = definition["row_labels"]
    # one column names the rows, or several joined by " / " (e.g. method / variant)
    key = summary[by].astype(str).agg(" / ".join, axis=1) if isinstance(by, list) else summary[by]
    unknown = sorted(set(key) - set(labels))
    if unknown:
        raise NasflatError(f"table {definition['name']}: no row label for {', '.join(unknown)}")
    tasks = definition["columns"]
    means = {label: {} for label in labels.values()}
    cells = {label: {} for label in labels.values()}
    for value, frame in summary.groupby(key, sort=False):
        label = labels[value]
        for _, row in frame.iterrows():
            means[label][row["task"]] = row["spr"]
            cells[label][row["task"]] = f"{row['spr']:.3f} ± {row['spr_std']:.3f}"
        means[label]["gm"] = geometric_mean([means[label].get(t, float("nan")) for t in tasks])
        cells[label]["gm"] = f"{means[label]['gm']:.3f}"
    order = [label for label in labels.values() if cells[label]]
    if definition.get("bold_best") is not None:
        exclude = definition["bold_best"].get("exclude", []) if isinstance(definition["bold_best"], dict) else []
        for column in list(tasks) + ["gm"]:
            bolded = _bold_best({label: cells[label].get(column, "-") for label in order},
                                {label: means[label].get(column, float("nan")) for label in order}, exclude)
            for label in order:
                cells[label][column] = bolded[label]
    table = markdown_table([definition.get("row_header", " / ".join(by) if isinstance(by, list) else by)] + list(tasks) + ["gm"],
                           [[label] + [cells[label].get(t, "-") for t in list(tasks) + ["gm"]] for label in order])
    return _framed(definition, table, rows)


def _number(text: str) -> float:
    """The leading number of a shown cell (``**0.930**``, ``0.941 ± 0.011``), NaN for none."""
    match = re.search(r"-?\d+(\.\d+)?", str(text))
    return float(match.group()) if match else float("nan")


def _trials_geometric_mean(record: pd.DataFrame, spec: dict, space: str, k: int, tasks: Sequence[str]) -> str:
    """The geometric mean over ``tasks`` of one setting's Spearman (the job lists' summary of its
    trial rows), or "-" where a task has no rows."""
    rows = record[(record["method"] == spec["method"]) & (record["variant"] == spec["variant"])
                  & (record["space"] == space) & (record["k"] == str(k))]
    if set(tasks) - set(rows["task"]):
        return "-"
    means = summarise(numeric_trials(rows)).set_index("task")["spr"]
    return f"{geometric_mean([means[t] for t in tasks]):.3f}"


def render_headline(root: Path, definition: dict) -> str:
    """The README summary: per space and k, the geometric mean over the space's tasks of each
    method's Spearman (from the comparison records) beside the published numbers' geometric mean
    (from the published record, where the paper gives every task at that k)."""
    published = read_record(root, definition["record"])
    methods: Dict[str, str] = definition["methods"]
    # methods summarised from tidy trial rows: {label: {record, method, variant}}
    from_trials: Dict[str, dict] = definition.get("trial_methods", {})
    header = (["space", "k"] + [f"published {m}" for m in definition["published_methods"]] + list(from_trials)
              + list(methods.values()))
    rows = []
    used = [published]
    trial_records = {spec["record"]: read_record(root, spec["record"]) for spec in from_trials.values()}
    used += list(trial_records.values())
    for space, tasks in definition["spaces"].items():
        for k in definition["k"]:
            row = [space, str(k)]
            for method in definition["published_methods"]:
                values = published[(published["method"] == method) & (published["k"] == str(k))
                                   & published["task"].isin(tasks)]
                complete = len(values) == len(tasks)
                row.append(f"{geometric_mean(values['spr'].astype(float)):.3f}" if complete else "-")
            for spec in from_trials.values():
                row.append(_trials_geometric_mean(trial_records[spec["record"]], spec, space, k, tasks))
            comparison = read_record(root, definition["comparison"].format(space=space, k=k))
            used.append(comparison)
            shown = dict(zip(comparison["method"], comparison["gm"]))
            for method in methods:
                row.append(f"{_number(shown[method]):.3f}" if method in shown else "-")
            rows.append(row)
    record = pd.concat(used, ignore_index=True)
    definition = {**definition, "also_records": [definition["comparison"].format(space="{nb201,fbnet}", k="{5,10,20}")]
                  + list(trial_records)}
    return _framed(definition, markdown_table(header, rows), record)


RENDERERS: Dict[str, Callable[[Path, dict], str]] = {
    "rows": render_rows, "trials": render_trials, "headline": render_headline}


def render(name: str, definition: dict, root: Path = REPO) -> str:
    """The generated text of table ``name`` (the inside of its marked block)."""
    kind = definition.get("kind", "rows")
    if kind not in RENDERERS:
        raise NasflatError(f"table {name}: unknown kind {kind!r} (one of {', '.join(RENDERERS)})")
    return RENDERERS[kind](root, {**definition, "name": name})


def _markdown_files(root: Path) -> List[Path]:
    return sorted({p for pattern in MARKDOWN_GLOBS for p in root.glob(pattern)} - {root / CLI_REFERENCE})


def published_text(text: str, spec: Dict[str, dict], root: Path, path: Path, stale: List[Stale]) -> str:
    """``text`` with every marked block regenerated; differences are appended to ``stale``."""
    def replace(match: re.Match) -> str:
        name = match.group("name")
        if name not in spec:
            stale.append(Stale(path, name, "no such table in results_records/tables.yaml"))
            return match.group(0)
        body = render(name, spec[name], root)
        if body != match.group("body"):
            stale.append(Stale(path, name, "differs from what its record generates"))
        return f"<!-- table: {name} -->\n{body}<!-- /table -->"

    return BLOCK.sub(replace, text)


def _default_text(action: argparse.Action) -> str:
    default = action.default
    if default is None or default is argparse.SUPPRESS or action.required or \
            isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
        return ""
    if isinstance(default, (list, tuple)):
        return " ".join(map(str, default))
    if isinstance(action, argparse._StoreTrueAction) and default is False:
        return "off"
    if isinstance(action, argparse._StoreFalseAction) and default is True:
        return "on"
    if isinstance(action, argparse.BooleanOptionalAction):
        return "on" if default else "off"
    text = str(default)
    # a default resolved against the checkout (``data`` beside it) is shown relative to it, so the
    # reference is the same on every machine
    return "./" + text[len(str(REPO)) + 1:] if text.startswith(str(REPO) + "/") else text


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def parser_reference(call: str, parser: argparse.ArgumentParser, one_cpu: argparse.ArgumentParser,
                     level: int = 2) -> List[str]:
    """One section per parser (and per sub-command): description and a table of every flag with its
    default and help. ``one_cpu`` is the same parser built as on a one-CPU machine: a default that
    depends on the CPU count (``--threads``) is shown with both values, so the page is the same on
    every machine."""
    lines = [f"{'#' * level} `{call}`", ""]
    if parser.description:
        lines += [_cell(parser.description), ""]
    rows, subcommands = [], []
    for action, small in zip(parser._actions, one_cpu._actions):
        if isinstance(action, argparse._SubParsersAction):
            subcommands = [(name, sub, small.choices[name]) for name, sub in action.choices.items()]
            continue
        if action.help is argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        flag = ", ".join(action.option_strings) or action.dest
        if action.choices is not None:
            flag += " {" + ",".join(map(str, action.choices)) + "}"
        help_text = action.help or ""
        if "%(" in help_text:
            help_text = help_text % {**vars(action), "prog": parser.prog, "default": action.default}
        default = _default_text(action)
        if _default_text(small) != default:
            default += f" ({_default_text(small)} on a one-CPU machine)"
        rows.append([f"`{_cell(flag)}`", _cell(default) or ("required" if action.required else ""),
                     _cell(help_text)])
    if rows:
        lines += [markdown_table(["flag", "default", "help"], rows), ""]
    for name, sub, small in subcommands:
        lines += parser_reference(f"{call} {name}", sub, small, level + 1)
    return lines


def _parsers(module: str):
    """The module's parser as built here with many CPUs and with one (see parser_reference)."""
    build = importlib.import_module(module).build_parser
    real = os.cpu_count
    try:
        os.cpu_count = lambda: 64
        many = build()
        os.cpu_count = lambda: 1
        one = build()
    finally:
        os.cpu_count = real
    return many, one


def cli_reference() -> str:
    """docs/cli.md: every command line's flags, defaults and help, from its argparse parser."""
    lines = ["# Command-line reference", "",
             "<!-- generated by `python -m jobs.publish` from the argparse parsers; do not edit -->", "",
             "Every flag of every command line, its default and its help, read from the parsers "
             "themselves (`python -m jobs.publish` regenerates this page; a test fails when it is stale). "
             "An empty default is none, or one that depends on the space or the predictor, resolved at "
             "run time as the help says.", ""]
    for call, module in CLIS:
        lines += parser_reference(call, *_parsers(module))
    return "\n".join(lines).rstrip() + "\n"


def publish(root: Path = REPO, check: bool = False, say=print) -> List[Stale]:
    """Regenerate (or with ``check`` only compare) every marked table block and docs/cli.md;
    returns the stale blocks."""
    spec = load_spec(root)
    stale: List[Stale] = []
    for path in _markdown_files(root):
        text = path.read_text(encoding="utf-8")
        new = published_text(text, spec, root, path.relative_to(root), stale)
        if new != text and not check:
            atomic_write_text(path, new)
    reference = cli_reference()
    cli_path = root / CLI_REFERENCE
    if not cli_path.exists() or cli_path.read_text(encoding="utf-8") != reference:
        stale.append(Stale(CLI_REFERENCE, "cli", "differs from the command lines' parsers"))
        if not check:
            atomic_write_text(cli_path, reference)
    if check:
        for item in stale:
            say(f"stale: {item.path}: {item.name}: {item.reason}")
    else:
        say(f"published {len(spec)} table definition(s) into {len(_markdown_files(root))} Markdown file(s)"
            f" and {CLI_REFERENCE}; {len(stale)} block(s) changed")
    return stale


def record_rows(results: Path, studies: Sequence[str], code_commit: Optional[str],
                provenance: str) -> pd.DataFrame:
    """The tidy trial rows of a job list's finished lines (``studies`` only), compact: the key
    columns, the metrics and the settings that name the row; each row with its code version (the
    trainer's ``code_commit`` / ``code_fingerprint`` where recorded, else ``code_commit``)."""
    tidy = collect(Path(results))
    if studies:
        tidy = tidy[tidy["study"].isin(studies)]
    if tidy.empty:
        raise NasflatError(f"{results} has no finished rows" + (f" of study {', '.join(studies)}" if studies else ""))
    frame = tidy[[c for c in RECORD_COLUMNS if c in tidy.columns]].copy()
    for column in ("code_commit", "code_fingerprint"):
        recorded = tidy[column] if column in tidy.columns else pd.Series("", index=tidy.index)
        fallback = code_commit if column == "code_commit" and code_commit else "unknown"
        frame[column] = recorded.fillna("").astype(str).replace("", fallback)
    frame["provenance"] = provenance
    return frame.reset_index(drop=True)


def build_parser() -> ArgumentParser:
    """The command line of ``python -m jobs.publish``."""
    p = ArgumentParser(prog="python -m jobs.publish", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 naming every table block or docs/cli.md that is stale")
    sub = p.add_subparsers(dest="command")
    rec = sub.add_parser("record", help="write a compact record of a job list's finished lines",
                         description="Write the tidy trial rows of a job list's finished lines as a record CSV.")
    rec.add_argument("results", help="results folder of a job list (the one holding lines/), or an --export copy")
    rec.add_argument("--study", action="append", default=[], help="only this study's lines; repeatable")
    rec.add_argument("--out", required=True, help="the record CSV to write (e.g. results_records/STUDY/rows.csv)")
    rec.add_argument("--code_commit", default=None,
                     help="commit to record for rows that lack their own code_commit (older runs)")
    rec.add_argument("--provenance", default="joblist_records", help="what the rows are, said in each row")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m jobs.publish [--check]`` or ``python -m jobs.publish record RESULTS --out FILE``."""
    args = build_parser().parse_args(argv)
    status = {"code": 0}

    def run() -> None:
        if args.command == "record":
            results = Path(args.results)
            if not (results / "lines").is_dir():
                raise NasflatError(f"{results} holds no job-list results (no lines/ folder)")
            frame = record_rows(results, args.study, args.code_commit, args.provenance)
            out = Path(args.out)
            if out.is_dir():
                raise NasflatError(f"--out {out} is a folder")
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out, frame.to_csv(index=False, lineterminator="\n"))
            print(f"{len(frame)} row(s) of {frame['line_id'].nunique()} line(s): {out}")
        elif publish(REPO, check=args.check) and args.check:
            status["code"] = 1

    code = run_reporting_errors(run)
    return code or status["code"]


if __name__ == "__main__":
    sys.exit(main())
