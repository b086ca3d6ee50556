"""Report: per-seed runs in, the paper's table, honest statistics and figures out.

Takes plain data (``RunRecord`` or dicts with the same fields, one per finished run) so it
depends on no experiment machinery; the CLI and the experiment runner call it at the end.
"""

from symact.report.plots import (
    evaluate_activation,
    model_family,
    plot_accuracy_vs_params,
    plot_activation,
    plot_activations_combined,
)
from symact.report.statistics import (
    PAIRED_COLUMNS,
    mean_confidence_interval,
    paired_differences,
    param_ratio_gain,
)
from symact.report.tables import (
    CONFIGURATION_ORDER,
    EFFICIENCY_COLUMNS,
    SUMMARY_COLUMNS,
    RunRecord,
    as_records,
    efficiency,
    efficiency_table,
    format_mean_std,
    summary_table,
    to_markdown,
    write_efficiency_csv,
)

__all__ = [
    "CONFIGURATION_ORDER",
    "EFFICIENCY_COLUMNS",
    "PAIRED_COLUMNS",
    "SUMMARY_COLUMNS",
    "RunRecord",
    "as_records",
    "efficiency",
    "efficiency_table",
    "evaluate_activation",
    "format_mean_std",
    "mean_confidence_interval",
    "model_family",
    "paired_differences",
    "param_ratio_gain",
    "plot_accuracy_vs_params",
    "plot_activation",
    "plot_activations_combined",
    "summary_table",
    "to_markdown",
    "write_efficiency_csv",
]
