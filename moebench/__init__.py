"""moebench: the Edge-Cloud MoE Bench, a TorchRL benchmark for LLM / MoE inference scheduling.

import moebench
region = moebench.load_region("data1/CH-500")
env = moebench.make_env("CH-500", split="train", batch_size=64, max_candidates=32)
"""

from moebench.data import Region, RegionError, load_region
from moebench.errors import UserError

__version__ = "0.1.0"


def make_env(*args, **kwargs):
    """Build an `EdgeCloudMoEEnv` (see `moebench.env.make_env`)."""
    from moebench.env import make_env as _make_env

    return _make_env(*args, **kwargs)


def evaluate(*args, **kwargs):
    """Evaluate a policy on an env (see `moebench.evaluate.evaluate`)."""
    from moebench.evaluation import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


__all__ = ["Region", "RegionError", "UserError", "__version__", "evaluate", "load_region", "make_env"]
