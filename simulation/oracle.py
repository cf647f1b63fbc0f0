"""The simulation's ground-truth oracle (reveals pool labels, counts queries) and the
results row of one cycle, whose ``chosen*`` fields come from the oracle's answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CycleRow:
    """One row of the results table. Metrics are percentages (0-100) on the reported split
    (``map50`` = VOC all-point mAP@0.5, ``coco_ap`` = COCO AP@[.5:.95]); ``val_*`` on the
    validation split (``None`` without one). Times in seconds; ``shared`` marks a cycle-0
    model reused from another run of the same preset and seed (its times are the original
    training's). ``chosen*`` describe the images this cycle's model selected (labelled for
    the next cycle), from the oracle's answers: how many, their ground-truth boxes in all
    and per class, and how many hold no object; 0 / empty on the last cycle."""

    run: str
    strategy: str
    preset: str
    seed: int
    cycle: int
    labeled: int
    map50: float
    coco_ap: float
    val_map50: float | None
    val_coco_ap: float | None
    train_s: float
    eval_s: float
    score_s: float
    time_s: float
    shared: bool = False
    chosen: int = 0
    chosen_boxes: int = 0
    chosen_empty: int = 0
    chosen_class_boxes: list[int] = field(default_factory=list)
    strategy_used: str = ""
    """The strategy that selected (``auto``: the one its budget rule chose), "" on the
    last cycle."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Oracle:
    """Reveals the ground truth of pool images and counts how many were asked."""

    def __init__(self, labels: Sequence[Sequence[int]], num_classes: int) -> None:
        self._labels = [list(map(int, ls)) for ls in labels]
        self.num_classes = num_classes
        self.queries = 0

    def __len__(self) -> int:
        return len(self._labels)

    def reveal(self, ids: Sequence[int]) -> list[list[int]]:
        """The ground-truth class labels of ``ids`` (what an annotator would return)."""
        self.queries += len(ids)
        return [list(self._labels[i]) for i in ids]

    def images_per_class(self, labeled: Sequence[int]) -> list[int]:
        """Labelled images holding at least one box of each class (``auto``'s rule)."""
        return class_counts((set(self._labels[i]) for i in labeled), self.num_classes)

    def class_frequency(self, labeled: Sequence[int]) -> list[float]:
        """Mean number of boxes per class per labelled image (``ScoringContext`` input)."""
        counts = class_counts((self._labels[i] for i in labeled), self.num_classes)
        n = max(1, len(labeled))
        return [c / n for c in counts]


def class_counts(label_lists: Iterable[Sequence[int]], num_classes: int) -> list[int]:
    """Boxes per class over images given as lists of class labels."""
    counts = [0] * num_classes
    for labels in label_lists:
        for c in labels:
            counts[c] += 1
    return counts


def composition(answers: Sequence[Sequence[int]], num_classes: int) -> dict[str, Any]:
    """The ``chosen*`` fields of :class:`CycleRow` from the oracle's per-image class labels."""
    per_class = class_counts(answers, num_classes)
    return {
        "chosen": len(answers),
        "chosen_boxes": sum(per_class),
        "chosen_empty": sum(1 for labels in answers if not labels),
        "chosen_class_boxes": per_class if answers else [],
    }
