"""busflow.report.paired: two runs' predictions on the same images, compared pairwise."""

import json

import numpy as np
import pandas as pd
import pytest

from busflow.report.paired import compare_runs, paired_difference, to_markdown


def predictions(probability, groups, threshold=0.5) -> pd.DataFrame:
    n = len(probability)
    return pd.DataFrame(
        {
            "image_id": [f"i{k}" for k in range(n)],
            "label": np.arange(n) % 2,
            "probability": probability,
            "threshold": threshold,
            "group": groups,
        }
    )


def test_a_run_compared_with_itself_differs_by_exactly_nothing():
    rng = np.random.default_rng(0)
    a = predictions(rng.random(40), [f"g{k // 2}" for k in range(40)])
    result = paired_difference(a, a, 200, seed=1)
    assert result["n"] == 40 and result["n_groups"] == 20
    for name in ("auc", "sensitivity", "specificity"):
        assert result[name]["difference"] == 0 and result[name]["ci"] == (0, 0)


def test_a_better_run_shows_a_positive_difference_whose_interval_excludes_zero():
    rng = np.random.default_rng(1)
    labels = np.arange(200) % 2
    noise = rng.random(200)
    a = predictions(0.3 * labels + 0.7 * noise, [f"g{k}" for k in range(200)])
    b = predictions(0.7 * labels + 0.3 * noise, [f"g{k}" for k in range(200)])
    auc = paired_difference(a, b, 300, seed=2)["auc"]
    assert auc["difference"] > 0.1 and auc["ci"][0] > 0


def test_runs_of_other_images_are_refused():
    a = predictions([0.1, 0.9], ["g1", "g2"])
    b = a.assign(image_id=["x", "y"])
    with pytest.raises(ValueError, match="share no test image"):
        paired_difference(a, b, 10, seed=0)


def test_runs_are_compared_fold_by_fold_and_named_by_held_out_site(tmp_path):
    rng = np.random.default_rng(3)
    for run in ("whole", "roi"):
        for fold, site in enumerate(("north", "south")):
            folder = tmp_path / run / f"results/folds/{fold}/eval/transfer"
            folder.mkdir(parents=True)
            predictions(rng.random(20), [f"g{k}" for k in range(20)]).to_csv(
                folder / "predictions.csv", index=False
            )
            (folder / "metrics.json").write_text(json.dumps({"held_out_site": site}))
    rows = compare_runs(tmp_path / "whole", tmp_path / "roi", "transfer", resamples=50)
    assert [row["site"] for row in rows] == ["north", "south"]
    table = to_markdown(rows, ("whole", "roi"))
    assert "| north | 20 (20) | auc |" in table and "roi - whole" in table
