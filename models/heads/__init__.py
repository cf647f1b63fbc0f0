"""alp's detection heads: configured R-CNN RoI heads and RetinaNet head (see ``install_heads``)."""

from models.heads.config import HeadConfig, Reweight, head_preset

__all__ = ["HeadConfig", "Reweight", "head_preset"]
