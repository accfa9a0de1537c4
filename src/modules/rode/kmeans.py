"""A small deterministic k-means (Lloyd's algorithm with k-means++ seeding), enough to cluster a
few dozen action representations without an sklearn dependency."""
from __future__ import annotations

import torch


def kmeans_plus_plus(points: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k initial centres [k, D]: each next centre drawn with probability ~ squared distance."""
    first = torch.randint(points.shape[0], (1,), generator=generator).item()
    centres = [points[first]]
    for _ in range(1, k):
        d2 = torch.cdist(points, torch.stack(centres)).pow(2).min(dim=1).values
        weights = d2 if d2.sum() > 0 else torch.ones_like(d2)
        centres.append(points[torch.multinomial(weights.cpu(), 1, generator=generator).item()])
    return torch.stack(centres)


def kmeans(points: torch.Tensor, k: int, iters: int, generator: torch.Generator) -> torch.Tensor:
    """Cluster labels [M] in 0..k'-1 with k' = min(k, number of distinct points); no cluster is empty.

    An emptied cluster takes the point farthest from its centre, so every label keeps members."""
    points = points.detach().float().cpu()
    k = min(k, torch.unique(points, dim=0).shape[0])
    centres = kmeans_plus_plus(points, k, generator)
    labels = torch.zeros(points.shape[0], dtype=torch.long)
    for _ in range(iters):
        dist = torch.cdist(points, centres)
        new_labels = dist.argmin(dim=1)
        for c in range(k):
            if not (new_labels == c).any():
                farthest = dist.gather(1, new_labels[:, None]).squeeze(1).argmax()
                new_labels[farthest] = c
                dist[farthest] = 0.0  # this point is taken
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
        centres = torch.stack([points[labels == c].mean(dim=0) for c in range(k)])
    return labels
