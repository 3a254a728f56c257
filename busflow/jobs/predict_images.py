"""Rule predict_images: busflow.predict.predictions.predict_table for one configured set of new
images."""

from busflow.outputs import write_csv
from busflow.predict.predictions import predict_table, summary_line


def predict_images_job(
    export_dirs, source, batch_size: int, out_csv, masks=None, whole_image: bool = False
) -> None:
    """``masks``, ``whole_image``: the set's lesion regions (see predict_table)."""
    table = predict_table(export_dirs, [source], batch_size, masks, whole_image)
    write_csv(table, out_csv)
    print(summary_line(table))
