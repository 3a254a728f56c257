"""What every Keras job does once busflow.runtime.start.start_job has chosen the backend: the fast
path (precision, jit) and the device line that opens its log; and how jobs predict."""

import os

import keras

from busflow.runtime.acceleration import apply_acceleration
from busflow.runtime.devices import device_line, job_device, list_devices
from busflow.runtime.start import log_first


def accelerate(acceleration: dict | None) -> dict:
    """Set the dtype policy and resolve jit before any model is built or loaded; logs where the job
    runs (busflow.runtime.devices.device_line) and returns the resolved settings with that record as
    'device'."""
    resolved = apply_acceleration(acceleration or {})
    threads = os.environ.get(
        "OMP_NUM_THREADS"
    )  # what busflow.runtime.start.start_job gave the frameworks
    record = job_device(
        resolved["backend"], list_devices(resolved["backend"]), int(threads) if threads else None
    )
    record.update(precision=resolved["precision"], jit_compile=resolved["jit_compile"])
    log_first(device_line(record, resolved))
    return {**resolved, "device": record}


def predictor(model: keras.Model, batch_size: int):
    """The model's probability of malignancy for a batch of grey uint8 images."""
    return lambda images: model.predict(images[..., None], batch_size=batch_size, verbose=0).ravel()
