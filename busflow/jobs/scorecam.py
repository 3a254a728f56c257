"""Rule scorecam_examples: Score-CAM heat maps (gradient-free, any Keras
backend) of a few test images."""

from pathlib import Path

import keras
import numpy as np

from busflow.augment.samples import load_role
from busflow.evaluate.operating_point import apply_operating_point
from busflow.evaluate.scorecam import pick_examples, plot_cam_grid, score_cam
from busflow.outputs import read_json


def scorecam_examples_job(
    model_file,
    test_shards,
    model_name: str,
    classes,
    per_class: int,
    top_k: int,
    out_png,
    selection=None,
    operating_point_file=None,
) -> None:
    """Rule scorecam_examples: Score-CAM heat maps of a few test images of each class, as one PNG.
    With ``operating_point_file`` the predicted class, the shown probability and right/wrong follow
    the model's operating point (recalibration and threshold), as the metrics do."""
    data, meta = load_role(test_shards, "test", selection)
    picked = pick_examples(data["labels"], data["image_ids"], data["copy_index"], per_class)
    model = keras.models.load_model(model_file)
    images, labels = data["images"][picked], data["labels"][picked]
    chosen = read_json(operating_point_file) if operating_point_file else None

    def operating_point(probabilities):
        return apply_operating_point(chosen, probabilities) if chosen else (probabilities, 0.5)

    def decide(probabilities):
        shown, threshold = operating_point(np.asarray(probabilities))
        return shown >= threshold

    result = score_cam(model, images, top_k=top_k, decide=decide)
    shown, threshold = operating_point(result.probabilities)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    plot_cam_grid(
        images, labels, result, list(classes), model_name, out_png, shown=shown, threshold=threshold
    )
    for image_id, label, probability in zip(data["image_ids"][picked], labels, shown):
        print(
            f"{model_name}: {image_id} true {classes[int(label)]} p({classes[1]}) "
            f"{probability:.3f} (threshold {threshold:.3f})"
        )
    print(
        f"{model_name}: Score-CAM at {'/'.join(result.layer_path)} for {len(picked)} "
        f"test images ({meta['protocol']})"
    )
