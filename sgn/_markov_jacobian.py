"""The Jacobians of a Markov game's gradient fields, assembled from their structure (large plan).

    partial_jacobians(game, x) -> (H, dN)     H = dg/dx, dN = dN/dx, both (d, d)

`MarkovGame.bound_jacobians` differentiates the policy-gradient formula in forward mode: every
one of the d tangents is pushed through dense products with the transition table
(S x prod(A) x S) and through the linear solves, O(S^2 prod(A)) per tangent. But a tangent
(player i, state t, reduced action b) moves player i's policy at state t only, so it moves one
row of the joint policy, one row of P_pi and one entry of each reward average. With
K = (I - gamma P_pi)^{-1} formed once, every derivative is a product with one row or column
of it (docs/fisher.md, "Scale"):

    q       = sum_a dJoint[t, a] P[t, a, :]                 (the moved row of P_pi)
    dd      = gamma d[t] K^T q                              (occupancy; d = (1 - gamma) K^T rho)
    dV_j    = c_j K[:, t],  c_j = drbar_j[t] + gamma q . V_j
    dQ_j    = gamma c_j (P K)[:, :, t]
    dQbar_j = the marginal of dQ_j, plus (j != i) Q_j[t] marginalised with dpi_i[t] at state t
    dG_j    = -dd Qbar_j - d dQbar_j + tau (dw (log pi_j + 1) + [j = i, s = t] w dlog pi_i)

then dN_j = dG_j - dG_j[last] and dg_j = d(pi_j (G_j - pi_j . G_j)). This is O(S^2 + S prod(A))
per tangent after O(S^3 + S^2 prod(A)) once: at 100 states with 4 x 4 actions (d = 600) the
Jacobians of a point take milliseconds where forward mode took ~0.3 s. The values agree with
forward mode to rounding (tests/test_markov_jacobian.py), not bit for bit, so only the large
plan uses them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._markov import _joint, _marginal


def partial_jacobians(game, x):
    """(dg/dx, dN/dx) of `game` (a MarkovGame) at reduced logits x: the Euclidean
    pseudo-gradient's and the natural gradient's Jacobians, the same matrices as
    jax.jacfwd of (g, N) to rounding."""
    S, actions = game.states, tuple(game.actions)
    n = len(actions)
    gamma, tau = game._gamma, game._tau
    P = game._P_flat                                    # (S, prod A, S)
    rewards = game._R_flat                              # (N, S, prod A)
    occupancy_weighted = game.entropy_weighting == "occupancy"
    shape = (S, *actions)

    pis = game.policies(x)
    joint = _joint(pis)
    P_pi = jnp.einsum("sa,sat->st", joint, P)
    K = jnp.linalg.inv(jnp.eye(S) - gamma * P_pi)       # (I - gamma P_pi)^{-1}
    d = (1.0 - gamma) * (game.initial @ K)              # occupancy: (1 - gamma) K^T rho
    PK = jnp.einsum("sat,tu->sau", P, K)                # (S, prod A, S)
    PK_by_column = jnp.moveaxis(PK, -1, 0)              # [u] -> (S, prod A)
    eye_S = jnp.eye(S)

    logps, weights, Qs, Qbars, Gs, V = [], [], [], [], [], []
    for j, pi in enumerate(pis):
        logp = jnp.log(pi)
        rbar = jnp.sum(joint * rewards[j], axis=1)
        if occupancy_weighted:
            rbar = rbar - tau * jnp.sum(pi * logp, axis=1)
        V_j = K @ rbar
        Q = rewards[j] + gamma * jnp.einsum("sat,t->sa", P, V_j)
        Qbar = _marginal(Q.reshape(shape), pis, j)
        weight = d if occupancy_weighted else jnp.ones(S)
        logps.append(logp)
        weights.append(weight)
        Qs.append(Q.reshape(shape))
        Qbars.append(Qbar)
        V.append(V_j)
        Gs.append(-d[:, None] * Qbar + tau * weight[:, None] * (logp + 1.0))
    # the marginal of column u of P K, per player: MPK[j][u, s, a_j]
    MPK = [jax.vmap(lambda column, j=j: _marginal(column.reshape(shape), pis, j))(PK_by_column)
           for j in range(n)]

    H_blocks = [[None] * n for _ in range(n)]
    N_blocks = [[None] * n for _ in range(n)]
    for i, pi_i in enumerate(pis):
        B = actions[i] - 1
        # dpi_i[t, b, a] = pi_i[t, a] (1[a = b] - pi_i[t, b]): logit b of state t moved
        delta = pi_i[:, None, :] * (jnp.eye(B, actions[i])[None] - pi_i[:, :B, None])
        factors = [pi[:, None, :] if k != i else delta for k, pi in enumerate(pis)]
        dJoint = _joint_batched(factors)                 # (S_t, B, prod A), row t only
        q = jnp.einsum("tba,tas->tbs", dJoint, P)        # the moved row of P_pi
        dd = gamma * d[:, None, None] * jnp.einsum("tbs,su->tbu", q, K)   # (S_t, B, S)
        dent = -jnp.einsum("tba,ta->tb", delta, logps[i])                  # d entropy_i[t]
        # Qbar_j at state t with player i's policy there replaced by its derivative
        for j in range(n):
            drbar = jnp.einsum("tba,ta->tb", dJoint, rewards[j])
            if occupancy_weighted and j == i:
                drbar = drbar + tau * dent
            c = drbar + gamma * jnp.einsum("tbs,s->tb", q, V[j])
            dQbar = gamma * c[:, :, None, None] * MPK[j][:, None, :, :]   # (S_t, B, S, A_j)
            if j != i:
                swapped = jax.vmap(
                    lambda dpi, j=j: _marginal(Qs[j], [dpi if k == i else pi
                                                       for k, pi in enumerate(pis)], j),
                    in_axes=1, out_axes=1)(delta)        # (S_t, B, A_j), at s = t
                dQbar = dQbar + eye_S[:, None, :, None] * swapped[:, :, None, :]
            dG = (-dd[..., None] * Qbars[j][None, None]
                  - d[None, None, :, None] * dQbar)
            if occupancy_weighted:
                dG = dG + tau * dd[..., None] * (logps[j] + 1.0)[None, None]
            pi_j, G_j = pis[j], Gs[j]
            # d(pi_j (G_j - pi_j . G_j)): the pi_j-weighted part everywhere ...
            mean_dG = jnp.sum(pi_j[None, None] * dG, axis=-1, keepdims=True)
            dg = pi_j[None, None] * (dG - mean_dG)
            if j == i:
                # ... and at s = t the moved policy's own terms: d log pi and d pi
                dlogp = jnp.eye(B, actions[i])[None] - pi_i[:, :B, None]   # (S_t, B, A_i)
                own = tau * weights[i][:, None, None] * dlogp
                dG = dG + eye_S[:, None, :, None] * own[:, :, None, :]
                mean_own = jnp.sum(pi_i[:, None, :] * own, axis=-1, keepdims=True)
                mean_G = jnp.sum(pi_i * G_j, axis=-1)                      # (S,)
                at_t = (pi_i[:, None, :] * (own - mean_own)
                        + delta * (G_j[:, None, :] - mean_G[:, None, None])
                        - pi_i[:, None, :] * jnp.einsum("tbc,tc->tb", delta, G_j)[..., None])
                dg = dg + eye_S[:, None, :, None] * at_t[:, :, None, :]
            dN = dG[..., :-1] - dG[..., -1:]
            # (S_t, B, S, A_j - 1) -> rows (s, a) of player j, columns (t, b) of player i
            H_blocks[j][i] = _columns(dg[..., :-1])
            N_blocks[j][i] = _columns(dN)
    return jnp.block(H_blocks), jnp.block(N_blocks)


def _joint_batched(factors):
    """The joint policy's derivative (S, B, prod A) from per-player factors (S, B or 1, A_k)."""
    joint = factors[0]
    for f in factors[1:]:
        joint = joint[..., :, None] * f[..., None, :]
        joint = joint.reshape(joint.shape[0], joint.shape[1], -1)
    return joint


def _columns(block):
    """(S_t, B, S, A) derivatives -> the (S A, S_t B) Jacobian block (rows (s, a), columns
    (t, b))."""
    St, B, S, A = block.shape
    return jnp.transpose(block, (2, 3, 0, 1)).reshape(S * A, St * B)
