"""Paper Figure 1 / appendix B.4: behaviour cloning (BC) vs AWPO on a 100-armed bandit.

    python -m tools.bandit --out docs/figures/fig1_bandit

Setting (appendix B.4): arm a has value a (0..99); B = 2 arms are sampled (i.i.d., with
replacement) from the current softmax policy and the search target is one-hot on the best sampled
arm. Both losses take the expectation over all sampled sets in closed form: the probability that
arm a is the best of B draws is

    t(a) = (sum_{b <= a} pi(b))^B - (sum_{b < a} pi(b))^B

The paper prints (sum_{b >= a} pi(b))^K - (sum_{b >= a} pi(b))^K, which read literally is 0; with
`>=` then `>` it is the probability that a is the *worst* sampled arm, so it only matches the
stated target when arms are indexed by decreasing value. We use the argmax form above, which
tests/test_tools_bandit.py checks against enumerating every sampled pair. Then

    BC:   l(theta) = - sum_a sg[t(a)] log pi_theta(a)
    AWPO: l(theta) = - sum_a sg[t(a)] exp(adv(a) / alpha) log pi_theta(a),  alpha = 1,

with sg the stop-gradient and adv(a) = (a - 99/2) sqrt(3/2525): the values normalised to mean 0 and
(sample) std 1. With logits theta the gradient of -sum_a w(a) log pi(a) is pi * sum(w) - w.
Both start from the same random logits (N(0, 0.01^2): a near-uniform policy; the paper says only
"randomly initialized") and take plain gradient steps (the paper names no optimizer; Adam would
rescale the gradients per arm and hide the difference in their size). BC only learns which of
two samples is better, while AWPO also weighs by how good the sample is, so it converges faster.
With N(0, 1) logits both lock onto an arm that starts with much mass (`--init-std 1`):
deterministic policies are fixed points of both losses, and AWPO still ends on a better arm."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

N_ARMS = 100
SAMPLES = 2


def softmax(theta: np.ndarray) -> np.ndarray:
    z = np.exp(theta - theta.max())
    return z / z.sum()


def log_softmax(theta: np.ndarray) -> np.ndarray:
    shifted = theta - theta.max()
    return shifted - np.log(np.exp(shifted).sum())


def expected_target(pi: np.ndarray, samples: int = SAMPLES) -> np.ndarray:
    """t(a): the probability that arm a (value a) is the best of `samples` draws from pi."""
    at_most = np.cumsum(pi)                              # sum_{b <= a} pi(b)
    below = np.concatenate([[0.0], at_most[:-1]])        # sum_{b < a} pi(b)
    return at_most**samples - below**samples


def advantage(n_arms: int = N_ARMS) -> np.ndarray:
    """Arm values 0..n-1 normalised to mean 0, sample std 1: (a - 49.5) sqrt(3/2525) for 100 arms."""
    values = np.arange(n_arms, dtype=float)
    return (values - values.mean()) / values.std(ddof=1)


def weights(theta: np.ndarray, method: str, samples: int = SAMPLES, alpha: float = 1.0) -> np.ndarray:
    """The (stop-gradient) per-arm weights of the loss."""
    t = expected_target(softmax(theta), samples)
    if method == "bc":
        return t
    if method == "awpo":
        return t * np.exp(advantage(len(theta)) / alpha)
    raise ValueError(f"unknown method {method!r} (bc or awpo)")


def loss(theta: np.ndarray, method: str, samples: int = SAMPLES, alpha: float = 1.0) -> float:
    return float(-(weights(theta, method, samples, alpha) * log_softmax(theta)).sum())


def grad(theta: np.ndarray, method: str, samples: int = SAMPLES, alpha: float = 1.0) -> np.ndarray:
    """d loss / d theta with the weights held fixed: pi * sum(w) - w."""
    w = weights(theta, method, samples, alpha)
    return softmax(theta) * w.sum() - w


def train(theta0: np.ndarray, method: str, steps: int, lr: float) -> dict[str, np.ndarray]:
    """Gradient descent; records the policy's expected arm value and the probability of the best arm."""
    theta = theta0.copy()
    values = np.arange(len(theta), dtype=float)
    expected, best, losses = [], [], []
    for _ in range(steps + 1):
        pi = softmax(theta)
        expected.append(float(pi @ values))
        best.append(float(pi[-1]))
        losses.append(loss(theta, method))
        theta = theta - lr * grad(theta, method)
    return {"expected_value": np.array(expected), "p_best": np.array(best), "loss": np.array(losses)}


def steps_to(curve: np.ndarray, threshold: float) -> int | None:
    hit = np.nonzero(curve >= threshold)[0]
    return int(hit[0]) if len(hit) else None


def plot(curves: dict[str, dict[str, np.ndarray]], out: Path, lr: float, seed: int, init_std: float) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tools.plots import save

    colours = {"bc": "#1f77b4", "awpo": "#d62728"}
    names = {"bc": "BC", "awpo": "AWPO"}
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for method, curve in curves.items():
        x = np.arange(len(curve["expected_value"]))
        axes[0].plot(x, curve["expected_value"], color=colours[method], label=names[method], lw=1.6)
        axes[1].plot(x, curve["p_best"], color=colours[method], label=names[method], lw=1.6)
    axes[0].axhline(N_ARMS - 1, color="0.5", ls="--", lw=0.8)
    axes[0].set_ylabel("expected arm value  E_pi[a]")
    axes[1].set_ylabel("pi(best arm)")
    for ax in axes:
        ax.set_xlabel("gradient steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"100-armed bandit, B={SAMPLES} samples, softmax policy; gradient descent lr={lr}, "
                 f"logits N(0, {init_std}^2), seed {seed}", fontsize=10)
    fig.tight_layout()
    return save(fig, out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Paper Figure 1: BC vs AWPO on a 100-armed bandit with B=2.")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--init-std", type=float, default=0.01, help="std of the initial logits")
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/figures/fig1_bandit")
    args = p.parse_args(argv)
    theta0 = np.random.default_rng(args.seed).normal(scale=args.init_std, size=N_ARMS)  # identical start for both
    curves = {m: train(theta0, m, args.steps, args.lr) for m in ("bc", "awpo")}
    summary = {m: {"final_expected_value": float(c["expected_value"][-1]), "final_p_best": float(c["p_best"][-1]),
                   "steps_to_expected_value_95": steps_to(c["expected_value"], 95.0),
                   "steps_to_p_best_0.5": steps_to(c["p_best"], 0.5)} for m, c in curves.items()}
    print(json.dumps(summary, indent=2))
    for path in plot(curves, Path(args.out), args.lr, args.seed, args.init_std):
        print(f"wrote {path}")
    Path(args.out).with_suffix(".json").write_text(json.dumps({"lr": args.lr, "steps": args.steps,
                                                               "seed": args.seed, "init_std": args.init_std,
                                                               "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
