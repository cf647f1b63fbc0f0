"""Datasets over manifests, COCO read/write and the synthetic shape generator."""

from models.data.coco import read_coco, write_coco
from models.data.dataset import DetectionDataset, collate, hflip, load_image, to_tensor_image
from models.data.synthetic import generate, generate_coco

__all__ = [
    "DetectionDataset",
    "collate",
    "generate",
    "generate_coco",
    "hflip",
    "load_image",
    "read_coco",
    "to_tensor_image",
    "write_coco",
]
