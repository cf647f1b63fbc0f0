"""RoI samplers for the R-CNN head (Libra IoU-balanced, PISA Score-HLR).

torchvision's own ``BalancedPositiveNegativeSampler`` is the ``"default"`` sampler and is used
unchanged by the heads; see :mod:`models.samplers.base` for the shared conventions.
"""

from models.samplers.base import SampleResult, random_subset
from models.samplers.libra import InstanceBalancedPosSampler, IoUBalancedNegSampler, LibraSampler
from models.samplers.score_hlr import ScoreHLRSampler, nms_match_groups

__all__ = [
    "InstanceBalancedPosSampler",
    "IoUBalancedNegSampler",
    "LibraSampler",
    "SampleResult",
    "ScoreHLRSampler",
    "nms_match_groups",
    "random_subset",
]
