"""Critic registry: `critic_type` config key -> class taking (scheme, args); forward(batch) -> V [B, T, N]."""
from modules.critics.ac import ACCritic
from modules.critics.agent_state import AgentStateCritic
from modules.critics.centralV import CentralVCritic

REGISTRY: dict[str, type] = {
    "cv_critic": CentralVCritic,
    "ac_critic": ACCritic,
    "as_critic": AgentStateCritic,
}
