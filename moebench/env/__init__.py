"""The Edge-Cloud MoE environment: settings, workload, pure dynamics, simulator and the torchrl env."""

from moebench.env.moe_env import EdgeCloudMoEEnv, make_env
from moebench.env.settings import EnvSettings
from moebench.env.tables import CANDIDATE_FEATURES, CONTEXT_FEATURES

__all__ = ["CANDIDATE_FEATURES", "CONTEXT_FEATURES", "EdgeCloudMoEEnv", "EnvSettings", "make_env"]
