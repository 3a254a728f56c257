"""The split: grouped, stable when images are added, and the paper's protocol flagged leaky."""

import pandas as pd
import pytest

from busflow.errors import ConfigError
from busflow.split.assign import assign_splits, plan_split

SPLIT_CFG = {"protocol": "leak_free", "val_fraction": 0.15, "test_fraction": 0.2, "seed": 42}


def synthetic_manifest(n: int, group_size: int = 1, start: int = 0) -> pd.DataFrame:
    rows = []
    for i in range(start, start + n):
        label = "malignant" if (i // group_size) % 3 == 0 else "benign"
        group = f"{label}/img{(i // group_size) * group_size:05d}"
        rows.append(
            {"image_id": f"{label}/img{i:05d}", "label": label, "group": group, "conflict": False}
        )
    return pd.DataFrame(rows)


def test_no_group_spans_two_splits():
    split = assign_splits(synthetic_manifest(600, group_size=3), SPLIT_CFG)
    assert split.groupby("group")["split"].nunique().max() == 1
    assert split["group"].nunique() == 200


def test_fractions_are_met_per_label_in_expectation():
    split = assign_splits(synthetic_manifest(3000), SPLIT_CFG)
    shares = split.groupby("label")["split"].value_counts(normalize=True)
    for label in ("benign", "malignant"):
        assert shares[(label, "test")] == pytest.approx(0.2, abs=0.04)
        assert shares[(label, "val")] == pytest.approx(0.15, abs=0.04)


def test_adding_images_leaves_existing_rows_unchanged():
    before = assign_splits(synthetic_manifest(300), SPLIT_CFG)
    grown = pd.concat(
        [synthetic_manifest(300), synthetic_manifest(50, start=300)], ignore_index=True
    )
    after = (
        assign_splits(grown, SPLIT_CFG).set_index("image_id").loc[before["image_id"]].reset_index()
    )
    pd.testing.assert_frame_equal(before, after)


def test_seed_decides_the_split():
    manifest = synthetic_manifest(300)
    assert assign_splits(manifest, SPLIT_CFG).equals(assign_splits(manifest, SPLIT_CFG))
    other = assign_splits(manifest, {**SPLIT_CFG, "seed": 43})
    assert (other["split"] != assign_splits(manifest, SPLIT_CFG)["split"]).any()


def test_label_conflicts_are_left_out():
    manifest = synthetic_manifest(300)
    manifest.loc[:1, "conflict"] = True
    split = assign_splits(manifest, SPLIT_CFG)
    assert not split["image_id"].isin(manifest.loc[:1, "image_id"]).any()


def test_paper_protocol_is_flagged_leaky():
    split = assign_splits(synthetic_manifest(60), {**SPLIT_CFG, "protocol": "paper"})
    assert split["leaky"].all()
    assert set(split["split"]) == {"pool"}
    leak_free = assign_splits(synthetic_manifest(60), SPLIT_CFG)
    assert not leak_free["leaky"].any()


def test_too_few_images_for_a_split_is_a_named_error():
    with pytest.raises(ConfigError, match="split has no"):
        assign_splits(synthetic_manifest(4), SPLIT_CFG)


def test_an_empty_train_split_asks_to_lower_the_fractions():
    """Raising them (the old advice) empties train further."""
    with pytest.raises(
        ConfigError, match="train split has no .*lower split.val_fraction and split.test_fraction"
    ):
        assign_splits(
            synthetic_manifest(30), {**SPLIT_CFG, "val_fraction": 0.5, "test_fraction": 0.5}
        )


def two_site_manifest() -> pd.DataFrame:
    rows = [
        {
            "image_id": f"{site}/{label}/{i}",
            "label": label,
            "group": f"g-{site}-{label}-{i}",
            "site": site,
            "conflict": False,
        }
        for site in ("north", "south")
        for label in ("benign", "malignant")
        for i in range(20)
    ]
    return pd.DataFrame(rows)


def test_leave_one_site_out_tests_each_site_whole_and_keeps_a_new_cross_site_duplicate_out_of_training():  # noqa: E501
    from busflow.split.assign import plan_split
    from busflow.split.record import read_record

    sites = ["north", "south"]
    first = plan_split(
        two_site_manifest(), SPLIT_CFG, 2, read_record("/nonexistent"), held_out_sites=sites
    )
    twin = {
        "image_id": "south/benign/rescan",
        "label": "benign",
        "group": "g-north-benign-3",
        "site": "south",
        "conflict": False,
    }
    grown = pd.concat([two_site_manifest(), pd.DataFrame([twin])], ignore_index=True)
    # a later run, with the first run's record: the twin's group was recorded at site north
    table = plan_split(grown, SPLIT_CFG, 2, first.record, held_out_sites=sites).table.set_index(
        ["fold", "image_id"]
    )

    assert table.loc[(1, "south/benign/rescan"), "split"] == "test"  # tested with its own site
    assert (
        table.loc[(0, "south/benign/rescan"), "split"] == "excluded"
    )  # its twin is a test image of fold 0
    assert table.loc[(1, "north/benign/3"), "split"] == "excluded"
    for fold, site in enumerate(sites):
        rows = table.loc[fold].reset_index()
        assert (rows.loc[rows["image_id"].str.startswith(site), "split"] == "test").all()
        assert not (rows.loc[~rows["image_id"].str.startswith(site), "split"] == "test").any()


def test_a_site_without_one_class_is_named_with_the_fix():
    from busflow.split.assign import plan_split

    manifest = two_site_manifest()
    manifest = manifest[~((manifest["site"] == "south") & (manifest["label"] == "malignant"))]
    with pytest.raises(
        ConfigError,
        match=(
            "held-out site north.*train split has no .malignant.*Add .malignant. "
            "images to the sites other than north"
        ),
    ):
        plan_split(manifest, SPLIT_CFG, 2, None, held_out_sites=["north", "south"])


def test_leave_one_site_out_and_k_fold_draw_validation_from_one_hash():
    """With k = 2, k-fold's validation share of the non-test groups is 2 x val_fraction; leave one
    site out with that val_fraction picks the very same validation groups."""
    manifest = two_site_manifest()
    k_fold = plan_split(manifest, SPLIT_CFG, 2).table
    doubled = {**SPLIT_CFG, "val_fraction": 2 * SPLIT_CFG["val_fraction"]}
    by_site = plan_split(manifest, doubled, 2, None, held_out_sites=["north", "south"]).table

    def validation(table):
        return set(table.loc[table["split"] == "val", "image_id"])

    assert validation(k_fold) and validation(k_fold) == validation(by_site)
