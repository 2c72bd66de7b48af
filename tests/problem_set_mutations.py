"""Realistic wrong submissions for the graded problem sets, each ONE mistake in a reference solution.

Every :class:`Mutation` edits the reference answer cell ``cell`` (an nbgrader ``grade_id``) of one
assignment by exact string replacement; each ``old`` string must occur exactly once in that cell,
so that a change in the solutions makes the test fail loudly instead of silently grading an
unmutated notebook. The mutant must lose points on the test cell ``breaks`` and keep full marks on
every other autograded test cell of its assignment (``tests/test_problem_sets.py`` checks this by
autograding all of them with nbgrader).

A submission is built the way a student makes one: the released notebook (``exercises/``) with
each answer cell filled in by the reference answer (the ``### BEGIN/END SOLUTION`` marker lines
dropped, as a student never sees them), and then the mutation applied to that answer.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

__all__ = ["Mutation", "MUTATIONS", "apply_edits"]


@dataclass(frozen=True)
class Mutation:
    """One wrong submission: ``edits`` applied to answer cell ``cell`` of ``assignment``."""

    name: str  # also the student id in the graded class
    assignment: str
    cell: str  # grade_id of the answer (solution) cell that is edited
    breaks: str  # grade_id of the test cell that must lose points
    edits: tuple  # ((old, new), ...); each old occurs exactly once in the cell
    mistake: str  # what the student got wrong, in words


PS1 = "ps1_forward_and_losses"
PS2 = "ps2_backprop"
PS3 = "ps3_pca"
PS4 = "ps4_energy_and_conservativeness"
PS5 = "ps5_regularizers"

_STABLE_SIGMOID = (
    "    e = np.exp(-np.abs(z))  # in (0, 1]: cannot overflow\n"
    "    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))"
)

MUTATIONS = (
    # ---------------------------------------------------------------- ps1
    Mutation(
        "ps1-naive-sigmoid", PS1, "sigmoid", "test_sigmoid",
        ((_STABLE_SIGMOID, "    return 1.0 / (1.0 + np.exp(-z))"),),
        "the textbook formula 1/(1+exp(-z)): exp overflows for z << 0",
    ),
    Mutation(
        "ps1-sigmoid-prime-of-output", PS1, "sigmoid_prime", "test_sigmoid_prime",
        (("    s = sigmoid(z)\n    return s * (1.0 - s)", "    return z * (1.0 - z)"),),
        "sigma' evaluated as if its argument were the output sigma(z), not the pre-activation",
    ),
    Mutation(
        "ps1-se-sum-over-batch", PS1, "squared_error", "test_squared_error",
        (("np.sum(D * D) / X.shape[0]", "np.sum(D * D)"),),
        "sum instead of mean over the batch",
    ),
    Mutation(
        "ps1-ce-log-sigmoid", PS1, "cross_entropy_from_logits", "test_cross_entropy_from_logits",
        ((
            "    softplus = np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z)))  # log(1 + exp(Z)), stably\n"
            "    return float(np.sum(softplus - X * Z) / X.shape[0])",
            "    P = 1.0 / (1.0 + np.exp(-Z))\n"
            "    return float(-np.sum(X * np.log(P) + (1.0 - X) * np.log(1.0 - P)) / X.shape[0])",
        ),),
        "unstable log(sigmoid): log(1 - P) is log(0) at logit 40",
    ),
    # ---------------------------------------------------------------- ps2
    Mutation(
        "ps2-se-grad-no-factor-2", PS2, "grad_se_untied", "test_grad_se_untied",
        (("dXhat = 2.0 * (Xhat - X) / m", "dXhat = (Xhat - X) / m"),),
        "missing factor 2 in the squared-error gradient (the loss has no 1/2)",
    ),
    Mutation(
        "ps2-se-grad-sigma-prime-of-output", PS2, "grad_se_untied", "test_grad_se_untied",
        (("sigmoid_prime(A)", "sigmoid_prime(H)"),),
        "sigma' evaluated at the output H instead of the pre-activation A",
    ),
    Mutation(
        "ps2-ce-grad-wrong-transpose", PS2, "grad_ce_untied", "test_grad_ce_untied",
        (('"W_dec": H.T @ dZ', '"W_dec": dZ.T @ H'),),
        "wrong transpose: the decoder gradient comes out (n, k) instead of (k, n)",
    ),
    Mutation(
        "ps2-tied-grad-one-path", PS2, "grad_se_tied", "test_grad_se_tied",
        (('"W": X.T @ dA + dXhat.T @ H', '"W": X.T @ dA'),),
        "tied gradient missing its decoder path",
    ),
    Mutation(
        "ps2-one-sided-differences", PS2, "numerical_gradient", "test_numerical_gradient",
        (("(f(theta + step) - f(theta - step)) / (2.0 * eps)", "(f(theta + step) - f(theta)) / eps"),),
        "one-sided instead of central differences",
    ),
    Mutation(
        "ps2-train-zero-init", PS2, "train_autoencoder", "test_train_autoencoder",
        (
            ('"W": rng.normal(0.0, 0.1, size=(n, k)),', '"W": np.zeros((n, k)),'),
            ('"W_dec": rng.normal(0.0, 0.1, size=(k, n)),', '"W_dec": np.zeros((k, n)),'),
        ),
        "all weights initialised to zero: the hidden units never become different",
    ),
    # ---------------------------------------------------------------- ps3
    Mutation(
        "ps3-pca-not-centred", PS3, "pca", "test_pca",
        (("Xc = X - X.mean(axis=0)", "Xc = X"),),
        "PCA without centring",
    ),
    Mutation(
        "ps3-pca-wrong-transpose", PS3, "pca", "test_pca",
        (("return Vt[:k].T,", "return Vt[:, :k],"),),
        "wrong transpose: columns of V^T taken as the directions",
    ),
    Mutation(
        "ps3-angles-not-orthonormalised", PS3, "principal_angles", "test_principal_angles",
        (("    QA, _ = np.linalg.qr(A)\n    QB, _ = np.linalg.qr(B)", "    QA, QB = A, B"),),
        "cosines from the raw bases, which are not orthonormal",
    ),
    Mutation(
        "ps3-linear-ae-sum-over-batch", PS3, "train_linear_autoencoder", "test_train_linear_autoencoder",
        (("dXhat = 2.0 * R / m", "dXhat = 2.0 * R"),),
        "gradient of the sum instead of the mean over the batch: the step is m times too large",
    ),
    Mutation(
        "ps3-linear-ae-half-step", PS3, "train_linear_autoencoder", "test_train_linear_autoencoder",
        (("W, W_dec = W - lr * grad_W, W_dec - lr * grad_W_dec",
          "W, W_dec = W - 0.5 * lr * grad_W, W_dec - 0.5 * lr * grad_W_dec"),),
        "steps at half the learning rate (still converges on the long run, but not the step asked for)",
    ),
    # ---------------------------------------------------------------- ps4
    Mutation(
        "ps4-jacobian-transposed", PS4, "jacobian", "test_jacobian",
        (("(W_dec.T * d) @ W.T", "(W * d) @ W_dec"),),
        "wrong transpose: returns d x_i / d r_j, the transpose of the Jacobian",
    ),
    Mutation(
        "ps4-symmetricity-not-squared", PS4, "symmetricity", "test_symmetricity",
        (("return float(np.sum(S * S) / total)", "return float(np.sqrt(np.sum(S * S) / total))"),),
        "ratio of Frobenius norms instead of squared norms",
    ),
    Mutation(
        "ps4-energy-naive-softplus", PS4, "tied_energy", "test_tied_energy",
        (("np.maximum(A, 0.0) + np.log1p(np.exp(-np.abs(A)))", "np.log1p(np.exp(A))"),),
        "log(1 + exp(a)) written literally: overflows for large pre-activations",
    ),
    Mutation(
        "ps4-curl-wrong-sign", PS4, "curl_2d", "test_curl_2d",
        (("return dF2_dx - dF1_dy", "return dF1_dy - dF2_dx"),),
        "wrong sign of the curl",
    ),
    # ---------------------------------------------------------------- ps5
    Mutation(
        "ps5-masking-in-place", PS5, "masking_noise", "test_masking_noise",
        ((
            "    keep = rng.random(X.shape) >= p\n    return np.where(keep, X, 0.0)",
            "    X[rng.random(X.shape) < p] = 0.0\n    return X",
        ),),
        "corrupts the caller's X in place",
    ),
    Mutation(
        "ps5-sparsity-mean-over-units", PS5, "sparsity_penalty", "test_sparsity_penalty",
        (("rho_hat = H.mean(axis=0)", "rho_hat = H.mean(axis=1)"),),
        "mean activation taken over the hidden units instead of over the examples",
    ),
    Mutation(
        "ps5-sparsity-grad-sum-over-batch", PS5, "sparsity_grad", "test_sparsity_grad",
        (("(dOmega_drho_hat / m) * sigmoid_prime(A)", "dOmega_drho_hat * sigmoid_prime(A)"),),
        "forgets d rho_hat / d h = 1/m: sum instead of mean over the batch",
    ),
    Mutation(
        "ps5-contractive-grad-one-path", PS5, "contractive_grad", "test_contractive_grad",
        (("grad_W = 2.0 * W * (S2.sum(axis=0) / m)", "grad_W = np.zeros_like(W)"),),
        "contractive gradient missing the path through the weight norms",
    ),
)


def apply_edits(nb: dict, mutation: Mutation) -> dict:
    """Return a copy of ``nb`` with the mutation's edits applied to its answer cell.

    Raises AssertionError unless the cell exists once and every ``old`` string occurs exactly
    once in it, so that a drifting reference solution cannot make a mutant vacuous.
    """
    nb = copy.deepcopy(nb)
    cells = [c for c in nb["cells"]
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == mutation.cell]
    assert len(cells) == 1, f"{mutation.name}: cell {mutation.cell!r} found {len(cells)} times"
    cell = cells[0]
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    for old, new in mutation.edits:
        count = source.count(old)
        assert count == 1, f"{mutation.name}: {old!r} occurs {count} times in {mutation.cell!r}"
        source = source.replace(old, new)
    cell["source"] = source
    return nb
