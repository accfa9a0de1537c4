"""Agent network registry: `agent` config key -> class taking (input_shape, args)."""
from modules.agents.rnn_agent import RNNAgent

REGISTRY: dict[str, type] = {
    "rnn": RNNAgent,
}
