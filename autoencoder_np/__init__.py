"""autoencoder_np: autoencoders in pure NumPy with hand-written backpropagation.

Notation (the whole course): examples are rows. ``X`` is ``(m, n)``; the encoder computes
``H = g(X W + b)`` with ``W`` of shape ``(n, k)``; the decoder ``Xhat = f(H W_dec + c)`` with
``W_dec`` of shape ``(k, n)``; tied weights mean ``W_dec = W.T``.
"""
from .activations import ACTIVATIONS, sigmoid, softplus
from .analysis import asymmetry_share, circulation, curl_2d, grid_2d, symmetricity
from .gradcheck import check_gradients, gradient_check, numerical_gradient, relative_error
from .losses import cross_entropy_from_logits, squared_error
from .model import Autoencoder
from .pca import eckart_young_loss, normalize, pca, principal_angles, project
from .regularizers import corrupt

__version__ = "0.1.0"


def __getattr__(name):
    # ``autoencoder_np.datasets`` is imported on first use (it pulls in scikit-learn lazily too).
    if name == "datasets":
        import importlib

        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module 'autoencoder_np' has no attribute {name!r}")


__all__ = [
    "Autoencoder", "ACTIVATIONS", "sigmoid", "softplus", "squared_error", "cross_entropy_from_logits",
    "gradient_check", "check_gradients", "numerical_gradient", "relative_error", "pca", "normalize",
    "principal_angles", "eckart_young_loss", "project", "symmetricity", "asymmetry_share", "curl_2d",
    "circulation", "grid_2d", "corrupt", "datasets",
]
