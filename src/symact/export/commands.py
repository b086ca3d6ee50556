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
    from symact.data.readers import read_frame
    from symact.export.model import load_model

    if not data.is_file():
        raise DataError(f"{data} does not exist; give a CSV or Parquet file of new rows")
    model = load_model(model_path)
    frame, _ = read_frame(data)
    frame.columns = [str(c) for c in frame.columns]
    predictions = model.predictions(frame, str(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    predictions.to_csv(tmp, index=False)
    tmp.replace(out)
    say(f"wrote {len(predictions):,} predictions of {model.card.get('title')} to {out}")
    return out
