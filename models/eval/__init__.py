"""Detection metrics: VOC mAP (11-point and all-point) and COCO AP."""

from models.eval.coco import evaluate_coco
from models.eval.voc import evaluate_voc, voc_ap

__all__ = ["evaluate_coco", "evaluate_voc", "voc_ap"]
