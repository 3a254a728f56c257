"""A two-second fit of a tiny conv net on the active Keras backend: does it train here?

    KERAS_BACKEND=jax python -m busflow.runtime.smoke_fit     # prints one JSON line

``python -m busflow.runtime.doctor`` runs it before a user submits the GPU jobs. The task is easy on
purpose (bright square vs dark square on noise): a backend that cannot lower the loss on it, or
that returns one constant, will not train the real models either.
"""

import json
import time

import numpy as np


def smoke_images(n: int = 64, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` grey uint8 images: noise with a bright (label 1) or dark (label 0) centre square."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(60, 160, size=(n, size, size, 1))
    centre = slice(size // 4, 3 * size // 4)
    images[labels == 1, centre, centre] += 80
    images[labels == 0, centre, centre] -= 50
    return np.clip(images, 0, 255).astype("uint8"), labels.astype("float32")


def smoke_fit(
    seconds: float = 2.0, min_epochs: int = 20, max_epochs: int = 200, seed: int = 0
) -> dict:
    """Fit for ``seconds`` after the first (compiling) epoch, and at least ``min_epochs`` (a busy
    node must not fail a backend that trains); returns the losses, the time and whether it
    learned (last loss below 80% of the first and predictions spread by > 0.05)."""
    import keras

    from busflow.models.builders import compile_binary, make_optimizer

    keras.utils.set_random_seed(seed)
    images, labels = smoke_images(seed=seed)
    model = keras.Sequential(
        [
            keras.Input(images.shape[1:], dtype="uint8"),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    compile_binary(model, make_optimizer("adam", 0.01))
    started = time.perf_counter()
    losses = [model.evaluate(images, labels, verbose=0)[0]]
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    compiled = time.perf_counter()
    epochs = 1
    while epochs < max_epochs and (epochs < min_epochs or time.perf_counter() - compiled < seconds):
        model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
        epochs += 1
    losses.append(model.evaluate(images, labels, verbose=0)[0])
    spread = float(np.std(model.predict(images, verbose=0)))
    return {
        "backend": keras.backend.backend(),
        "first_loss": float(losses[0]),
        "last_loss": float(losses[-1]),
        "epochs": epochs,
        "compile_seconds": compiled - started,
        "seconds": time.perf_counter() - compiled,
        "prediction_std": spread,
        "learned": bool(losses[-1] < 0.8 * losses[0] and spread > 0.05),
    }


if __name__ == "__main__":
    print(json.dumps(smoke_fit()))
