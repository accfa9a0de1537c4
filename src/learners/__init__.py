"""Learner registry: `learner` config key -> Learner class (each with a `Config` pydantic class)."""
from learners.ppo_learner import PPOLearner
from learners.mazero_learner import MAZeroLearner
from learners.q_learner import QLearner

REGISTRY: dict[str, type] = {
    "q_learner": QLearner,
    "ppo_learner": PPOLearner,
    "mazero_learner": MAZeroLearner,
}
