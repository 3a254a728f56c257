"""Rule gradcam_examples: Score-CAM heat maps (gradient-free, any Keras backend) of a few test images."""

from pathlib import Path

import keras

from busflow.gradcam import pick_examples, plot_cam_grid, score_cam
from busflow.samples import load_role


def cam_examples_job(model_file, test_shards, model_name: str, classes, per_class: int, top_k: int, out_png, selection=None) -> None:
    """Rule gradcam_examples: Score-CAM heat maps of a few test images of each class, as one PNG."""
    data, meta = load_role(test_shards, "test", selection)
    picked = pick_examples(data["labels"], data["image_ids"], data["copy_index"], per_class)
    model = keras.models.load_model(model_file)
    images, labels = data["images"][picked], data["labels"][picked]
    result = score_cam(model, images, top_k=top_k)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    plot_cam_grid(images, labels, result, list(classes), model_name, out_png)
    for image_id, label, probability in zip(data["image_ids"][picked], labels, result.probabilities):
        print(f"{model_name}: {image_id} true {classes[int(label)]} p({classes[1]}) {probability:.3f}")
    print(f"{model_name}: Score-CAM at {'/'.join(result.layer_path)} for {len(picked)} test images ({meta['protocol']})")
