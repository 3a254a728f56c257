"""The synthetic demo data: deterministic, laid out like a user's data set,
and shaped like the real task."""

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from busflow.data.demo import generate_demo_dataset, main, render_lesion, render_lesion_image

N = 60


def _rendered(label, size, n=N, seed=0):
    ci = ("benign", "malignant").index(label)
    return [render_lesion(np.random.default_rng([seed, ci, i]), label, size) for i in range(n)]


@pytest.fixture(scope="module")
def small():
    return {label: _rendered(label, 64) for label in ("benign", "malignant")}


def _read(paths):
    return [np.asarray(Image.open(p)) for p in paths]


def test_same_seed_same_pixels_and_different_seed_differs(tmp_path):
    a = _read(generate_demo_dataset(tmp_path / "a", n_per_class=3, size=48, seed=7))
    b = _read(generate_demo_dataset(tmp_path / "b", n_per_class=3, size=48, seed=7))
    c = _read(generate_demo_dataset(tmp_path / "c", n_per_class=3, size=48, seed=8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(np.array_equal(x, z) for x, z in zip(a, c, strict=True))


def test_more_images_leave_earlier_ones_unchanged(tmp_path):
    few = _read(generate_demo_dataset(tmp_path / "few", n_per_class=2, size=32))
    many = _read(generate_demo_dataset(tmp_path / "many", n_per_class=4, size=32))
    assert np.array_equal(few[0], many[0]) and np.array_equal(few[1], many[1])
    assert np.array_equal(few[2], many[4])  # first malignant image


def test_layout_count_mode_and_size(tmp_path):
    (tmp_path / "benign").mkdir()
    (tmp_path / "benign" / "notes.txt").write_text("keep me")
    paths = generate_demo_dataset(tmp_path, n_per_class=5, size=40)
    assert len(paths) == 10
    assert sorted(p.name for p in (tmp_path / "malignant").iterdir()) == [
        f"malignant_{i:04d}.png" for i in range(5)
    ]
    assert (tmp_path / "benign" / "notes.txt").read_text() == "keep me"
    for path in paths:
        assert path.parent.name in path.name
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "L", (40, 40))


def test_cli_writes_the_data_set(tmp_path, capsys):
    main([str(tmp_path / "raw"), "--n-per-class", "2", "--size", "32", "--seed", "3"])
    assert len(list((tmp_path / "raw").glob("*/*.png"))) == 4
    assert "wrote 4 images" in capsys.readouterr().out


def test_image_is_uint8_square_with_speckle():
    image = render_lesion_image(np.random.default_rng(0), "benign", 128)
    assert image.dtype == np.uint8 and image.shape == (128, 128)
    assert image.std() > 15 and 40 < image.mean() < 200


def test_unknown_label_is_refused():
    with pytest.raises(ValueError, match="label"):
        render_lesion(np.random.default_rng(0), "cyst", 64)


def _log_aspect(mask):
    rows, cols = np.nonzero(mask)
    return np.log((np.ptp(cols) + 1) / (np.ptp(rows) + 1))


def test_benign_wider_than_tall_malignant_taller_than_wide():
    benign = [_log_aspect(m) for _, m in _rendered("benign", 128, n=40)]
    malignant = [_log_aspect(m) for _, m in _rendered("malignant", 128, n=40)]
    assert np.mean(benign) > 0.15 and np.mean(malignant) < -0.15
    assert np.mean(np.array(benign) > 0) > 0.8 and np.mean(np.array(malignant) < 0) > 0.75


def test_lesion_is_darker_than_surrounding_tissue(small):
    for label, pairs in small.items():
        inside = np.mean([im[m].mean() for im, m in pairs])
        outside = np.mean([im[~m].mean() for im, m in pairs])
        assert inside < 0.7 * outside, label


def _posterior_ratio(image, mask):
    """Mean grey under the lesion over the mean at the same depths beside it."""
    rows, cols = np.nonzero(mask)
    top, bottom = rows.max() + 2, rows.max() + 2 + image.shape[0] // 5
    beside = np.ones(image.shape[1], bool)
    beside[max(cols.min() - 4, 0) : cols.max() + 5] = False
    columns = np.unique(cols)
    return image[top:bottom, columns].mean() / image[top:bottom, beside].mean()


def test_malignant_casts_a_posterior_shadow(small):
    benign = np.mean([_posterior_ratio(im, m) for im, m in small["benign"]])
    malignant = np.mean([_posterior_ratio(im, m) for im, m in small["malignant"]])
    assert malignant < 0.85 < benign


def test_classes_learnable_from_pixels_but_not_from_brightness(small):
    images = np.array([im for label in ("benign", "malignant") for im, _ in small[label]], float)
    y = np.repeat([0, 1], N)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))

    def auc(features):
        return cross_val_score(model, features, y, cv=cv, scoring="roc_auc").mean()

    downsampled = images.reshape(len(images), 8, 8, 8, 8).mean(axis=(2, 4)).reshape(len(images), -1)
    assert auc(downsampled) > 0.8
    # Overall brightness alone must not give the answer away: the task is about shape and shadow.
    assert auc(images.mean(axis=(1, 2))[:, None]) < 0.8


def test_masks_are_written_beside_the_images_and_mark_the_lesion(tmp_path):
    from busflow.data.demo import demo_mask_file

    paths = generate_demo_dataset(tmp_path, n_per_class=2, size=48, seed=3, masks=True)
    assert len(paths) == 4  # the images; each mask is beside its image
    for path in paths:
        label, index = path.parent.name, int(path.stem.split("_")[1])
        mask = np.asarray(Image.open(demo_mask_file(tmp_path, label, index))) > 127
        image = np.asarray(Image.open(path), dtype=float)
        assert 0 < mask.mean() < 0.5
        assert image[mask].mean() < image[~mask].mean()  # the lesion is the dark mass


def test_the_demo_folder_records_the_settings_it_was_written_with(tmp_path):
    """The workflow writes the demo only while the folder holds no demo of the config's settings;
    afterwards a demo image deleted by the user stays deleted (rules/common.smk raw_images)."""
    from busflow.data.demo import demo_is_written, demo_settings

    settings = demo_settings(2, 32, 0, masks=True)
    assert not demo_is_written(tmp_path / "demo", settings)
    generate_demo_dataset(tmp_path / "demo", n_per_class=2, size=32, masks=True)
    assert demo_is_written(tmp_path / "demo", settings)
    assert not demo_is_written(tmp_path / "demo", demo_settings(3, 32, 0, masks=True))
