"""Reanalysis: MAZero's policy targets, searched with the target model (in process or on Ray
workers) and cached per transition while the model that produced them is recent enough."""
from learners.reanalysis.cache import ReanalysisCache
from learners.reanalysis.policy_targets import PolicyTargets, SearchRequest, search_policy_targets
from learners.reanalysis.service import Reanalysis, Ticket
from learners.reanalysis.workers import ReanalysisWorkerError

__all__ = ["PolicyTargets", "Reanalysis", "ReanalysisCache", "ReanalysisWorkerError", "SearchRequest",
           "Ticket", "search_policy_targets"]
