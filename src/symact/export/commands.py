"""The bodies of ``symact export`` and ``symact predict``: the command line parses the flags
and calls these with the values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from symact.data.errors import DataError


def export_command(
    out: Path,
    results: Path,
    *,
    run: str | None = None,
    best: bool = False,
    data_dir: str | None = None,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Retrain the chosen run of ``results`` and write it into ``out`` (see
    :mod:`symact.export.runs`); returns the written files."""
    from symact.export.runs import choose_run, retrain

    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file; give `symact export` a folder to write into")
    chosen = choose_run(results, run=run, best=best)
    say(f"exporting {chosen.reason}: retraining run {chosen.key} from its stored spec")
    model = retrain(chosen, data_dir)
    metrics = model.card["metrics"]["retrained"]
    say(
        f"retrained: {model.spec.activation}, {model.card['scored_on']} AUC "
        f"{metrics['auc']:.4f} (stored: {model.card['metrics']['stored']['auc']:.4f})"
    )
    paths = model.save(out)
    say("wrote " + ", ".join(str(p) for p in paths))
    return paths


def predict_command(
    model_path: Path, data: Path, out: Path, *, say: Callable[[str], None] = print
) -> Path:
    """Predict every row of the CSV/Parquet file ``data`` with an exported model and write
    ``out`` (CSV: the predicted class and each class's probability, in the file's order)."""
    from symact.data.readers import _read_frame
    from symact.export.model import load_model

    if not data.is_file():
        raise DataError(f"{data} does not exist; give a CSV or Parquet file of new rows")
    model = load_model(model_path)
    frame, _ = _read_frame(data)
    frame.columns = [str(c) for c in frame.columns]
    predictions = model.predictions(frame, str(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    predictions.to_csv(tmp, index=False)
    tmp.replace(out)
    say(f"wrote {len(predictions):,} predictions of {model.card.get('title')} to {out}")
    return out


# ------------------------------------------------------------------ command-line wiring


def add_parsers(sub) -> None:
    """Register ``export`` and ``predict`` on the ``symact`` command's subparsers."""
    e = sub.add_parser("export", help="write a run's trained network (PyTorch, ONNX, card)")
    e.add_argument("out", help="folder to write model.pt, model.onnx and model_card.* into")
    e.add_argument("--from", dest="results", required=True, help="a results folder")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", default=None, help="the run's key (or a unique prefix)")
    which.add_argument(
        "--best", action="store_true", help="the search's best finalist by validation score"
    )
    e.add_argument("--data-dir", default=None, help="folder holding the dataset files")
    p = sub.add_parser("predict", help="predict the rows of a CSV with an exported model")
    p.add_argument("model", help="a folder written by symact export (or its model.pt)")
    p.add_argument("data", help="CSV or Parquet file with the model's columns")
    p.add_argument("--out", required=True, help="CSV file to write the predictions to")


def cmd_export(args, console) -> int:
    export_command(
        Path(args.out),
        Path(args.results),
        run=args.run,
        best=args.best,
        data_dir=args.data_dir,
        say=console.print,
    )
    return 0


def cmd_predict(args, console) -> int:
    predict_command(Path(args.model), Path(args.data), Path(args.out), say=console.print)
    return 0
