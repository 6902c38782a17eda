"""SVG plots of a SHAP report: global importance bars and a beeswarm of the values."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .shap import SCALE_NAMES, ShapOutput

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

# The version page shows a plot at its own width on a wide screen and shrinks it to the card
# on a phone (about 342 CSS px at 390 px): 4.5 in (432 CSS px) with 11 pt text keeps the
# smallest label at 11.6 CSS px there, and at 14.7 px (the page's text size) on a desktop.
WIDTH_IN = 4.5
FONT_PT = 11
# The beeswarm's dots are a raster: two device pixels per CSS pixel at the plot's own width.
RASTER_DPI = 192


def shap_plots(output: ShapOutput, *, max_display: int = 15) -> dict[str, bytes]:
    """SVG bar plot of global importance and a beeswarm plot of the SHAP values."""
    import matplotlib

    matplotlib.use("Agg")  # headless; the scatter is rasterised inside the SVG by Agg
    from matplotlib.figure import Figure

    # Figures are made without pyplot, so no global figure state is kept or leaked.
    features = list(output.X_sample.columns.astype(str))
    importance = np.abs(output.values).mean(axis=0)
    top = np.argsort(-importance, kind="stable")[:max_display][::-1]  # most important on top
    scale = output.result.get("output", "log_odds")
    unit = SCALE_NAMES.get(scale, scale)
    positive = output.result.get("positive_class")
    plots = {}
    # Text stays text in the SVG (smaller, searchable); the page supplies the font.
    style: dict[RcKeyType, Any] = {
        "svg.hashsalt": "gatehouse",
        "svg.fonttype": "none",
        "font.size": FONT_PT,
        "axes.titlesize": FONT_PT + 1,
        "axes.labelsize": FONT_PT,
    }
    with matplotlib.rc_context(style):
        fig = Figure(figsize=(WIDTH_IN, 0.35 * len(top) + 1.3))
        ax = fig.add_subplot()
        ax.barh(np.arange(len(top)), importance[top], color="#1f77b4")
        ax.set_yticks(np.arange(len(top)), [features[i] for i in top])
        ax.set_xlabel(f"mean |SHAP value|\n({unit} of class {positive!r})")
        ax.set_title("Global feature importance")
        fig.tight_layout()
        plots["shap_importance.svg"] = _svg(fig)

        fig = Figure(figsize=(WIDTH_IN, 0.4 * len(top) + 1.9))
        ax = fig.add_subplot()
        data = output.X_sample.to_numpy(dtype=float)
        for row, i in enumerate(top):
            shap_col = output.values[:, i]
            ax.scatter(
                shap_col,
                row + _swarm_offsets(shap_col),
                c=_colour_scale(data[:, i]),
                cmap="coolwarm",
                vmin=0,
                vmax=1,
                s=8,
                linewidths=0,
                rasterized=True,
            )
        ax.axvline(0, color="#999999", linewidth=0.8)
        ax.set_yticks(np.arange(len(top)), [features[i] for i in top])
        ax.set_xlabel(f"SHAP value\n(impact on the {unit} of class {positive!r})")
        ax.set_title("SHAP values per row\n(colour: feature value, blue low, red high)")
        fig.tight_layout()
        plots["shap_beeswarm.svg"] = _svg(fig)
    return plots


def _svg(fig: Any) -> bytes:
    """The figure as SVG bytes, without a timestamp so equal plots are equal bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, dpi=RASTER_DPI)
    return buffer.getvalue()


def _swarm_offsets(values: np.ndarray, bins: int = 100, height: float = 0.4) -> np.ndarray:
    """Vertical offsets that spread rows with similar SHAP values (deterministic)."""
    if len(values) == 0:
        return values
    span = values.max() - values.min()
    quant = np.round(bins * (values - values.min()) / (span + 1e-12)).astype(int)
    order = np.lexsort((np.arange(len(values)), quant))
    offsets = np.zeros(len(values))
    layer, last = 0, None
    for i in order:
        if quant[i] != last:
            layer, last = 0, quant[i]
        offsets[i] = math.ceil(layer / 2) * (1 if layer % 2 else -1)
        layer += 1
    peak = np.abs(offsets).max()
    return offsets * (height / peak) if peak > 0 else offsets


def _colour_scale(column: np.ndarray) -> np.ndarray:
    """Feature values mapped to 0..1 between their 5th and 95th percentiles."""
    finite = column[np.isfinite(column)]
    if len(finite) == 0:
        return np.full(len(column), 0.5)
    low, high = np.percentile(finite, [5, 95])
    if high <= low:
        low, high = finite.min(), finite.max()
    if high <= low:
        return np.full(len(column), 0.5)
    return np.nan_to_num(np.clip((column - low) / (high - low), 0, 1), nan=0.5)
