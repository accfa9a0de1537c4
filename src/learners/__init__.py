"""Learner registry: `learner` config key -> Learner class (each with a `Config` pydantic class)."""
from learners.base import Learner
from learners.ppo_learner import PPOLearner
from learners.mazero_learner import MAZeroLearner
from learners.q_learner import QLearner
from learners.qplex_learner import QPLEXLearner
from learners.cds_learner import CDSLearner
from learners.rode_learner import RODELearner
from learners.mamba_learner import MAMBALearner

REGISTRY: dict[str, type[Learner]] = {
    "q_learner": QLearner,
    "qplex_learner": QPLEXLearner,
    "cds_learner": CDSLearner,
    "rode_learner": RODELearner,
    "ppo_learner": PPOLearner,
    "mazero_learner": MAZeroLearner,
    "mamba_learner": MAMBALearner,
}
