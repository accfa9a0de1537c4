"""The world model's per-agent MLPs: observation encoder and decoder, the reward, continuation and
available-action heads, and the action-information head of the disentanglement loss.

Layer counts and activations are the official code's (`networks/dreamer/vae.py`, `dense.py`):
ReLU in the encoder and decoder, ELU in the prediction heads. Every head works on the last axis,
so it treats each agent alike whatever the leading [..., N] axes are."""
from __future__ import annotations

from torch import Tensor, nn


def dense(in_features: int, out_features: int, hidden: int, n_hidden_layers: int,
          activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear -> act, (n_hidden_layers - 1) x (Linear -> act), then a bare Linear (official build_model)."""
    layers: list[nn.Module] = [nn.Linear(in_features, hidden), activation()]
    for _ in range(n_hidden_layers - 1):
        layers += [nn.Linear(hidden, hidden), activation()]
    layers.append(nn.Linear(hidden, out_features))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module, orthogonal: bool = False) -> None:
    """Every weight matrix Xavier-uniform (world model, critic) or orthogonal (actor), as the
    official learner initialises them; biases keep torch's default."""
    for parameter in module.parameters():
        if parameter.dim() >= 2:
            (nn.init.orthogonal_ if orthogonal else nn.init.xavier_uniform_)(parameter)


class ObservationEncoder(nn.Sequential):
    """o^i -> e^i: four ReLU-separated Linear layers (official Encoder)."""

    def __init__(self, in_features: int, hidden: int, embed: int) -> None:
        super().__init__(*dense(in_features, embed, hidden, n_hidden_layers=3))


class ObservationDecoder(nn.Module):
    """features (z, h) -> (o^i reconstruction, the hidden features the action-information head reads)."""

    def __init__(self, features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(dense(features, hidden, hidden, n_hidden_layers=2), nn.ReLU())
        self.out = nn.Linear(hidden, out_features)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.body(features)
        return self.out(hidden), hidden


class PredictionHead(nn.Sequential):
    """features -> logits or a scalar: two ELU hidden layers (official DenseModel / DenseBinaryModel)."""

    def __init__(self, features: int, hidden: int, out_features: int) -> None:
        super().__init__(*dense(features, out_features, hidden, n_hidden_layers=2, activation=nn.ELU))


class ActionInformationHead(nn.Sequential):
    """Decoder features -> logits of the agent's previous action. Predicting it from the agent's own
    state keeps the weight-shared agents' latents apart (the official `info_loss`)."""

    def __init__(self, hidden: int, n_actions: int) -> None:
        super().__init__(dense(hidden, hidden, hidden, n_hidden_layers=1, activation=nn.ELU), nn.ReLU(),
                         nn.Linear(hidden, n_actions))
