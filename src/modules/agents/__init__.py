"""Agent network registry: `agent` config key -> class taking (input_shape, args)."""
from modules.agents.rnn_agent import RNNAgent
from modules.agents.cds_agent import CDSAgent
from modules.agents.rode_agent import RODEAgent

REGISTRY: dict[str, type] = {
    "rnn": RNNAgent,
    "cds": CDSAgent,
    "rode": RODEAgent,
}
