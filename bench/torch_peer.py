"""Plain-PyTorch peer of busflow's VGG16 stages, for the ours/peer ratios of bench/stages.py.

The same network on the same data: VGG16's 13 conv layers built by hand (no torchvision,
whose wheels often do not import beside a given torch build) and loaded from the same
Keras HDF5 weights file, the same head (flatten, dense 256, dropout, 1 logit), the same
optimizers, batch size and host-side epoch gather. Written the way a tuned PyTorch user
would: channels-last, bf16 autocast on CUDA (float32 on CPU), cudnn.benchmark,
inference_mode for predictions, fused BCE-with-logits. Timing rules match ours: one
warm-up batch, then whole batches, the device synced before the clock stops.
"""

from __future__ import annotations

import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
MEAN_BGR = (103.939, 116.779, 123.68)  # busflow.models.VGG16_MEAN_BGR


def vgg_block(cin: int, widths) -> nn.Sequential:
    layers = []
    for width in widths:
        layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
        cin = width
    return nn.Sequential(*layers, nn.MaxPool2d(2))


def conv_names() -> list[str]:
    return [
        f"block{b + 1}_conv{c + 1}"
        for b, widths in enumerate(VGG16_BLOCKS)
        for c in range(len(widths))
    ]


@torch.no_grad()
def load_keras_h5(modules, weights_file) -> None:
    """Keras kernels (kh, kw, cin, cout) -> torch (cout, cin, kh, kw); both cross-correlate."""
    convs = [m for module in modules for m in module.modules() if isinstance(m, nn.Conv2d)]
    with h5py.File(weights_file, "r") as h5:
        for conv, name in zip(convs, conv_names(), strict=True):
            conv.weight.copy_(
                torch.from_numpy(h5[name][f"{name}/kernel:0"][()]).permute(3, 2, 0, 1)
            )
            conv.bias.copy_(torch.from_numpy(h5[name][f"{name}/bias:0"][()]))


class Head(nn.Module):
    """busflow.models.build_head on NHWC features: flatten, dense 256, dropout, one logit."""

    def __init__(self, features: int, dropout: float = 0.5):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(256, 1),
        )

    def forward(self, nhwc):
        return self.layers(nhwc).squeeze(1)


def make_optimizer(name: str, params, learning_rate: float, momentum: float = 0.0):
    """torch twins of busflow.models.make_optimizer (Keras' RMSprop rho 0.9, eps 1e-7)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, momentum=momentum)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=learning_rate, alpha=0.9, eps=1e-7)
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate, eps=1e-7)
    raise ValueError(f"unknown optimizer '{name}'")


def whole_batches(n: int, batch: int) -> int:
    return n - n % batch


class Peer:
    def __init__(self, size: int, batch: int, weights_file):
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.bf16 = self.device.type == "cuda"
        torch.backends.cudnn.benchmark = (
            True  # autotune conv algorithms per shape, as tuned code does
        )
        self.size, self.batch = size, batch
        self.blocks1_4 = nn.Sequential(
            *[vgg_block(cin, w) for cin, w in zip((3, 64, 128, 256), VGG16_BLOCKS[:4])]
        )
        self.block5 = vgg_block(512, VGG16_BLOCKS[4])
        load_keras_h5([self.blocks1_4, self.block5], weights_file)
        for module in (self.blocks1_4, self.block5):
            module.to(self.device, memory_format=torch.channels_last)
        self.mean = torch.tensor(MEAN_BGR, device=self.device).view(1, 3, 1, 1)
        side = size // 32
        self.head_features = 512 * side * side

    def describe(self) -> dict:
        name = torch.cuda.get_device_name(0) if self.device.type == "cuda" else "cpu"
        return {
            "torch": torch.__version__,
            "device": name,
            "channels_last": True,
            "precision": "bf16 autocast" if self.bf16 else "float32",
            "vgg16": "hand-built (no torchvision)",
        }

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    # ---- inputs: what our models' first layers do, on the device

    def pixels(self, batch_u8):
        """(B, S, S) uint8 -> VGG 'caffe' input, three equal channels
        minus the BGR mean, channels-last."""
        x = torch.from_numpy(np.ascontiguousarray(batch_u8)).to(self.device, non_blocking=True)
        x = x.unsqueeze(1).float().expand(-1, 3, -1, -1) - self.mean
        return x.contiguous(memory_format=torch.channels_last)

    def block4(self, batch_f16):
        """(B, h, w, 512) NHWC float16 -> NCHW view, which is channels-last in memory."""
        x = torch.from_numpy(np.ascontiguousarray(batch_f16)).to(self.device, non_blocking=True)
        return x.permute(0, 3, 1, 2).float()

    def nhwc(self, x):
        return x.permute(0, 2, 3, 1)

    # ---- stages

    @torch.inference_mode()
    def features(self, images) -> None:
        for start in range(0, len(images), self.batch):
            with self.autocast():
                block4 = self.blocks1_4(self.pixels(images[start : start + self.batch]))
                bottleneck = self.block5(block4)
            self.nhwc(block4).cpu(), self.nhwc(bottleneck).cpu()  # to the host, as predict does

    @torch.inference_mode()
    def evaluate(self, images, head) -> None:
        for start in range(0, len(images), self.batch):
            with self.autocast():
                logits = head(
                    self.nhwc(
                        self.block5(self.blocks1_4(self.pixels(images[start : start + self.batch])))
                    )
                )
            torch.sigmoid(logits.float()).cpu()

    def train_epoch(self, forward, optimizer, x, y, seed: int, epoch: int) -> None:
        """One epoch as busflow.training does it: host gather in
        (seed, epoch) order, then batches."""
        order = np.random.default_rng([seed, epoch]).permutation(len(y))
        x, y = x[order], torch.from_numpy(y[order].astype(np.float32))
        for start in range(0, len(y), self.batch):
            with self.autocast():
                logits = forward(x[start : start + self.batch])
            loss = F.binary_cross_entropy_with_logits(
                logits.float(), y[start : start + self.batch].to(self.device)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        self.sync()

    def new_head(self, dropout: float = 0.5) -> Head:
        return Head(self.head_features, dropout).to(self.device)

    def time_stage(self, run, warm_up, n: int, repeat: int) -> dict:
        warm_up()
        self.sync()
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            run()
            self.sync()
            best = min(best, time.perf_counter() - start)
        return {"images": n, "seconds": best, "img_per_s": n / best}

    def run_all(self, data, settings: dict, repeat: int) -> dict:
        """Peer timings of features, head_train, block5_train and evaluate."""
        n, b = whole_batches(len(data.labels), self.batch), self.batch
        images, labels = data.images[:n], data.labels[:n]
        out = {
            "features": self.time_stage(
                lambda: self.features(images), lambda: self.features(images[:b]), n, repeat
            )
        }
        out["head_train"] = self.time_train(
            self.new_head(settings["transfer"].get("dropout", 0.5)),
            None,
            data.bottleneck[:n],
            labels,
            settings["transfer"],
            repeat,
        )
        out["block5_train"] = self.time_train(
            self.new_head(), self.block5, data.block4[:n], labels, settings["finetune"], repeat
        )
        head = self.new_head().eval()
        out["evaluate"] = self.time_stage(
            lambda: self.evaluate(images, head), lambda: self.evaluate(images[:b], head), n, repeat
        )
        return out

    def time_train(self, head, block5, x, y, cfg: dict, repeat: int) -> dict:
        """Train the head (block5 None: on bottleneck features) or
        block5 + head (on block4 features)."""
        modules = [head] + ([block5] if block5 is not None else [])
        for module in modules:
            module.train()
        params = [p for module in modules for p in module.parameters()]
        name = "sgd" if block5 is not None else cfg["optimizer"]
        optimizer = make_optimizer(name, params, cfg["learning_rate"], cfg.get("momentum", 0.0))
        if block5 is None:
            forward = lambda xb: head(torch.from_numpy(xb).to(self.device, non_blocking=True))  # noqa: E731
        else:
            forward = lambda xb: head(self.nhwc(block5(self.block4(xb))))  # noqa: E731
        epochs = iter(range(1, repeat + 1))
        seed = cfg.get("seed", 0)
        return self.time_stage(
            lambda: self.train_epoch(forward, optimizer, x, y, seed, next(epochs)),
            lambda: self.train_epoch(forward, optimizer, x[: self.batch], y[: self.batch], seed, 0),
            len(y),
            repeat,
        )

    @torch.inference_mode()
    def compare_bottleneck(self, images, ours) -> dict:
        """Max |peer - ours| / max |ours| of the bottleneck features, peer in float32."""
        self.block5.eval()
        peer = self.nhwc(self.block5(self.blocks1_4(self.pixels(images)))).float().cpu().numpy()
        ours = np.asarray(ours, dtype=np.float32)
        return {
            "images": len(images),
            "max_rel_diff": float(np.abs(peer - ours).max() / max(np.abs(ours).max(), 1e-30)),
        }
