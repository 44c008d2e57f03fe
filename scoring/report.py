"""The validation report of a candidate scorecard: an HTML page with plots, and the same figures as CSV."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen: draw to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ledger.core import exports  # noqa: E402
from scoring.calibration import Validation  # noqa: E402
from scoring.card import Card  # noqa: E402


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _roc(validation: Validation) -> str:
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    good = validation.scores["good"].astype(bool).to_numpy()
    for column in ("active", "candidate"):
        scores = validation.scores[column].to_numpy()
        thresholds = np.unique(scores)[::-1]
        tpr = [(scores[good] >= t).mean() for t in thresholds]
        fpr = [(scores[~good] >= t).mean() for t in thresholds]
        axes.plot([0, *fpr, 1], [0, *tpr, 1], label=column)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel("bad loans above the cut (share)")
    axes.set_ylabel("good loans above the cut (share)")
    axes.legend()
    axes.set_title("ROC")
    return _png(figure)


def _distribution(validation: Validation, card: Card) -> str:
    figure, axes = plt.subplots(figsize=(6, 3.5))
    low, high = card.clip
    bins: list[float] = np.linspace(low, high, 25).tolist()
    good = validation.scores["good"].astype(bool)
    axes.hist(validation.scores.loc[good, "candidate"], bins=bins, alpha=0.6, label="good")
    axes.hist(validation.scores.loc[~good, "candidate"], bins=bins, alpha=0.6, label="bad")
    axes.set_xlabel("candidate score")
    axes.set_ylabel("loans")
    axes.legend()
    return _png(figure)


def _bad_rates(validation: Validation) -> str:
    figure, axes = plt.subplots(figsize=(6, 3.5))
    grades = validation.grades
    x = np.arange(len(grades))
    axes.bar(x - 0.2, grades["bad_rate_active"].fillna(0), width=0.4, label="active")
    axes.bar(x + 0.2, grades["bad_rate_candidate"].fillna(0), width=0.4, label="candidate")
    axes.set_xticks(x, grades["grade"])
    axes.set_ylabel("bad rate")
    axes.legend()
    return _png(figure)


def write(validation: Validation, active: Card, candidate: Card, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    metrics_csv, grades_csv, html = out / "metrics.csv", out / "grades.csv", out / "validation.html"
    psi = pd.DataFrame(
        [
            {
                "metric": "PSI (candidate against active, county households now)",
                "active": None,
                "candidate": round(validation.psi, 4),
            }
        ]
    )
    exports.write_csv(pd.concat([validation.metrics, psi], ignore_index=True), metrics_csv)
    exports.write_csv(validation.grades, grades_csv)
    where = (
        "on the newest 30 % of loans, which the fit did not see"
        if validation.holdout
        else "in-sample (fewer than 200 loans: the same loans the fit used)"
    )
    html.write_text(f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>Scorecard validation {escape(candidate.id)}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.3rem .6rem;text-align:right}}</style>
<h1>Scorecard validation</h1>
<p>Candidate <b>{escape(candidate.id)}</b> ({escape(candidate.name)}) against the active
<b>{escape(active.id)}</b>. Figures {where}. Only a county administrator can activate the candidate; ratings
already made keep their version.</p>
<h2>Separation</h2>{validation.metrics.to_html(index=False, float_format=lambda v: f"{v:.4f}")}
<p>PSI of the county's scores if the candidate were active: <b>{validation.psi:.4f}</b>
({escape(validation.psi_status)}; below 0.10 stable, 0.10–0.25 watch, above 0.25 shifted).</p>
<h2>Bad rate per grade</h2>{validation.grades.to_html(index=False)}
<img alt="bad rate per grade" src="data:image/png;base64,{_bad_rates(validation)}">
<h2>ROC</h2><img alt="ROC curves" src="data:image/png;base64,{_roc(validation)}">
<h2>Candidate scores of good and bad loans</h2>
<img alt="score distribution" src="data:image/png;base64,{_distribution(validation, candidate)}">
</html>
""")
    return [html, metrics_csv, grades_csv]
