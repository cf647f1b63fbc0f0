"""Strategies that rank by image embeddings alone (``typiclust``, ``probcover``, ``coreset``):
the per-image record holds the embedding; helpers to stack the records' embeddings and put
the labelled images' embeddings in front of them."""

from __future__ import annotations

from typing import Any

import torch

from acquisition.base import Strategy
from acquisition.records import (
    ImageRecord,
    ScoringContext,
    checked_embedding,
    pack_tensor,
    unpack_tensor,
)
from acquisition.types import ImagePrediction, Requirements


def embedding_record(pred: ImagePrediction, strategy: str) -> dict[str, Any]:
    """The image's embedding as a packed float32 vector (``ValueError`` if absent or not
    finite)."""
    return pack_tensor(checked_embedding(pred, strategy))


def stack_embeddings(records: list[ImageRecord]) -> torch.Tensor:
    """(N, D) float32 embeddings of records made by :func:`embedding_record`."""
    rows = [unpack_tensor(r.data["embedding"]) for r in records]
    if len({int(r.numel()) for r in rows}) > 1:
        raise ValueError("image embeddings have different dimensions")
    return torch.stack(rows)


def points_with_labeled(
    pool: torch.Tensor, context: ScoringContext, normalize: bool
) -> tuple[torch.Tensor, int]:
    """``(labelled rows then pool rows, number of labelled rows)``, L2-normalised when
    ``normalize``; labelled embeddings of another dimension -> ValueError."""
    lab = context.labeled_embeddings
    if lab is None or lab.numel() == 0:
        lab = torch.zeros((0, pool.shape[1]))
    if lab.dim() != 2 or lab.shape[1] != pool.shape[1]:
        raise ValueError(
            f"labelled embeddings have shape {tuple(lab.shape)}, pool dim {pool.shape[1]}"
        )
    x = torch.cat([lab.to(torch.float32), pool.to(torch.float32)])
    if normalize:
        x = torch.nn.functional.normalize(x, dim=1)
    return x, int(lab.shape[0])


class EmbeddingStrategy(Strategy):
    """A strategy that ranks by image embeddings alone: its per-image record is the image's
    embedding (:meth:`embedding_data`; packed, :func:`embedding_record`, unless a subclass
    says otherwise); the global step does the work."""

    score_label = None

    @property
    def requirements(self) -> Requirements:
        return Requirements(probs=False, embedding=True)

    def embedding_data(self, pred: ImagePrediction) -> Any:
        """How the record stores the embedding (``ValueError`` if absent or not finite)."""
        return embedding_record(pred, self.name)

    def score_image(self, pred: ImagePrediction, context: ScoringContext) -> ImageRecord:
        return ImageRecord(
            image_id=pred.image_id, score=0.0, data={"embedding": self.embedding_data(pred)}
        )
