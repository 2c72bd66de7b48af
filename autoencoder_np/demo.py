"""The library's demo: train a sigmoid autoencoder on MNIST and save a figure.

    python -m autoencoder_np.demo [--epochs 10] [--hidden 100] [--out build/demo.png] [--fast]

Trains a 784-k-784 untied sigmoid/cross-entropy autoencoder with momentum SGD (progress bar on),
then saves a figure with test reconstructions beside their originals and the encoder and
decoder filters side by side. Falls back to scikit-learn's 8x8 digits (with a warning) when
MNIST is not found.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from .datasets import load_images
from .model import Autoencoder


def _tile(images, shape, rows, cols):
    """Arrange ``rows * cols`` flattened images (each reshaped to ``shape``) into one array."""
    h, w = shape
    canvas = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1))
    for idx, img in enumerate(images[: rows * cols]):
        r, c = divmod(idx, cols)
        lo, hi = img.min(), img.max()
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = (img.reshape(shape) - lo) / (hi - lo + 1e-12)
    return canvas


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--out", default="build/demo.png")
    ap.add_argument("--fast", action="store_true", default=os.environ.get("AECOURSE_FAST") == "1",
                    help="2,000 images and 3 epochs")
    args = ap.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, _, shape = load_images(2000 if args.fast else None, seed=0)
    epochs = 3 if args.fast else args.epochs
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    n_test = max(len(X) // 10, 16)
    X_test, X_train = X[order[:n_test]].astype(np.float32), X[order[n_test:]].astype(np.float32)
    model = Autoencoder(X.shape[1], args.hidden, encoder="sigmoid", decoder="sigmoid",
                        loss="cross_entropy", dtype=np.float32, seed=0)
    print(f"training {model} on {len(X_train)} images of {shape[0]}x{shape[1]}, {epochs} epochs")
    t0 = time.perf_counter()
    history = model.fit(X_train, epochs=epochs, batch_size=64, lr=0.05, optimizer="momentum", progress=True)
    seconds = time.perf_counter() - t0
    test_loss = model.loss(X_test)
    print(f"train loss per epoch: {[round(v, 2) for v in history['loss']]}")
    print(f"held-out cross-entropy per image: {test_loss:.2f} nats ({seconds:.1f} s of training)")

    fig, axes = plt.subplots(1, 3, figsize=(15, 5.4))
    recon = model.reconstruct(X_test[:10])
    axes[0].imshow(_tile(np.concatenate([X_test[:10], recon]), shape, 2, 10), cmap="gray")
    axes[0].set_title("Held-out images (top) and reconstructions (bottom)")
    axes[1].imshow(_tile(model.params["W"].T, shape, 6, 6), cmap="gray")
    axes[1].set_title("Encoder filters W[:, j]")
    axes[2].imshow(_tile(model.params["W_dec"], shape, 6, 6), cmap="gray")
    axes[2].set_title("Decoder filters W_dec[j, :]")
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"784-{args.hidden}-784 sigmoid autoencoder, {epochs} epochs, held-out CE {test_loss:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, bbox_inches="tight")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
