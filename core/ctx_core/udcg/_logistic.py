"""Penalised logistic regression by Newton's method, shared by the calibrators and the list gate."""

from __future__ import annotations

import numpy as np


def fit_logistic(x: np.ndarray, targets: np.ndarray, l2: float) -> tuple[list[float], float]:
    """Weights and bias minimising log-loss + ``l2/2 * |w|^2`` (the bias is not penalised).

    ``targets`` may be soft (in [0, 1]), as Platt's smoothed labels are.

    Examples:
        >>> w, b = fit_logistic(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]), 0.1)
        >>> w[0] > 0 and b < 0
        True
    """
    design = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.eye(design.shape[1]) * l2
    penalty[-1, -1] = 0.0
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        gradient = design.T @ (p - targets) + penalty @ beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta[:-1].tolist(), float(beta[-1])
