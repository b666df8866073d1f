#!/usr/bin/env python3
"""CA-LIG reference implementation (numpy, float64) on top of precomputed pieces.

This is the executable form of DESIGN.md §3 "calig" that tests/fixtures/*/attributions.json is
built with (make_attributions.py). It needs no model: it fuses

  r[l-1] = lig token scores at layer l (h^(l), l = 1..L), shape (L, s), signed;
  a[l-1] = class-specific attention-gradient relevance of block l read at the [CLS] row,
           i.e. abar[l-1][0, :] (or a path-integrated version of it), shape (L, s), >= 0;
  abar[l-1] = Ā^(l) = mean_k (∇A^(l,k) ⊙ A^(l,k))^+, the full (s, s) head-mean matrix of
           block l at the real input (used by the rollout aggregation), shape (L, s, s).

Index 0 of every array is block 1 (h^(0), the embeddings, takes no part in CA-LIG).

  â^(l) = a^(l) / max_t a^(l)_t            (all zeros when that max is 0)
  s^(l) = r^(l) · (λ + (1 − λ) · â^(l))    (element-wise; the sign of r is kept)
  aggregation "sum":     final = Σ_{l=1..L} s^(l)
  aggregation "rollout": final = Σ_{l=1..L} v_l, with v_l = s^(l) and then, for k = l+1..L,
                         v_l ← v_l + Ā^(k) v_l   (matrix-vector product: (I + Ā^(k)) v_l)

Checks that hold by construction: λ = 1 with "sum" gives Σ_l r^(l); λ = 1 with "rollout" and
all Ā = 0 gives the same.
"""

import numpy as np

AGGREGATIONS = ("rollout", "sum")


def normalise(a):
    """â = a / max_t a_t, or zeros when the max is 0 (a is non-negative)."""
    a = np.asarray(a, dtype=np.float64)
    m = a.max()
    if m > 0:
        return a / m
    return np.zeros_like(a)


def fuse(r, a, lam):
    """s^(l) for every layer: r, a are (L, s); returns (L, s)."""
    r = np.asarray(r, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    assert r.shape == a.shape, (r.shape, a.shape)
    return np.stack([r[l] * (lam + (1.0 - lam) * normalise(a[l])) for l in range(r.shape[0])])


def aggregate(s, abar, aggregation):
    """final map from the per-layer fused vectors s (L, s) and the matrices abar (L, s, s)."""
    s = np.asarray(s, dtype=np.float64)
    abar = np.asarray(abar, dtype=np.float64)
    n_layers = s.shape[0]
    if aggregation == "sum":
        return s.sum(0)
    if aggregation == "rollout":
        assert abar.shape == (n_layers, s.shape[1], s.shape[1]), abar.shape
        total = np.zeros(s.shape[1], dtype=np.float64)
        for l in range(n_layers):
            v = s[l].copy()
            for k in range(l + 1, n_layers):
                v = v + abar[k] @ v
            total = total + v
        return total
    raise ValueError(f"unknown aggregation {aggregation!r}")


def calig(r, a, abar, lam, aggregation):
    """Returns (layers (L, s), final (s,))."""
    layers = fuse(r, a, lam)
    return layers, aggregate(layers, abar, aggregation)


def variant_key(lam, aggregation):
    """"lambda_0.5_rollout", "lambda_1.0_sum", ..."""
    return f"lambda_{lam:.1f}_{aggregation}"
