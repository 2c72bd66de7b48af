"""autoencoder_np: autoencoders in pure NumPy with hand-written backpropagation.

Notation (the whole course): examples are rows. ``X`` is ``(m, n)``; the encoder computes
``H = g(X W + b)`` with ``W`` of shape ``(n, k)``; the decoder ``Xhat = f(H W_dec + c)`` with
``W_dec`` of shape ``(k, n)``; tied weights mean ``W_dec = W.T``.

Names are imported from their modules on first use (PEP 562), so importing one module, say
``autoencoder_np.fused``, loads only what that module needs.
"""
import importlib

# ``pca`` is both a module and its main function: import the functions now, so that the
# function (not the module) is what ``autoencoder_np.pca`` names (the module needs only NumPy)
from .pca import eckart_young_loss, normalize, pca, principal_angles, project

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Autoencoder": "model",
    "ACTIVATIONS": "activations", "sigmoid": "activations", "softplus": "activations",
    "squared_error": "losses", "cross_entropy_from_logits": "losses",
    "gradient_check": "gradcheck", "check_gradients": "gradcheck", "numerical_gradient": "gradcheck",
    "relative_error": "gradcheck",
    "symmetricity": "analysis", "asymmetry_share": "analysis", "curl_2d": "analysis",
    "circulation": "analysis", "grid_2d": "analysis",
    "corrupt": "regularizers",
}
_SUBMODULES = ("datasets",)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'autoencoder_np' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))


__all__ = list(_EXPORTS) + ["pca", "normalize", "principal_angles", "eckart_young_loss", "project",
                             *_SUBMODULES]
