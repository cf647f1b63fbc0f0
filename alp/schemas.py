"""Pydantic request/response schemas shared by the API, the worker and the CLI."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from acquisition import param_specs
from alp.schemas_limits import (
    MAX_CLASS_NAME,
    MAX_CLASSES,
    MAX_POOL_NAME,
    MAX_SCORE_SUBSET,
    MAX_SELECTION_BATCH,
    MAX_SETTINGS_JSON,
    TRAIN_OVERRIDES_SCHEMA,
    bounded_json,
    check_train_limits,
    has_control_chars,
)
from alp.train_overrides import check_train_overrides

# = acquisition.registry.list_strategies() (tests/unit/test_strategy_schema.py checks it)
STRATEGY_NAMES = tuple(param_specs.strategy_names())
TRAIN_PRESETS = ("vanilla", "huale", "libra", "pisa", "aploss", "retinanet")
MODEL_PROFILES = ("auto", "standard", "fast", "tiny")  # = models.profiles.PROFILES (tested)


class PoolSettings(BaseModel):
    """Per-pool active-learning settings (stored as JSON on the pool)."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field("hua", description="Acquisition strategy name.")
    strategy_params: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Parameters of the strategy (at most {MAX_SETTINGS_JSON} bytes as JSON); "
        "`x-strategy-parameters` lists each strategy's, with defaults, bounds and help texts.",
        json_schema_extra={"x-strategy-parameters": param_specs.params_schema()},
    )
    strategy_backtest_id: int | None = Field(
        None,
        ge=1,
        description="The backtest that justified the strategy (set when a "
        "backtest's recommendation is applied; cleared when the strategy changes otherwise).",
    )
    batch_size: int = Field(
        20, ge=1, le=MAX_SELECTION_BATCH, description="Images selected per cycle."
    )
    train_preset: str = Field("huale", description="Training preset (losses/samplers).")
    model: str = Field(
        "auto",
        description="Detector profile: auto (standard with CUDA, else fast), standard "
        "(ResNet-50-FPN, COCO, 800 px), fast (MobileNetV3-FPN, COCO, 512 px), tiny (tests).",
    )
    train_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="TrainConfig overrides, e.g. iterations, backbone "
        f"(at most {MAX_SETTINGS_JSON} bytes as JSON; iterations 1..1,000,000, epochs 1..10,000, "
        "batch_size 1..512).",
        json_schema_extra=TRAIN_OVERRIDES_SCHEMA,
    )
    auto_advance: bool = Field(True, description="Start the next cycle when labeling is done.")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="Labeled share held out.")
    warm_start: bool = Field(False, description="Start training from the previous checkpoint.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    score_subset: int | None = Field(
        None, ge=1, le=MAX_SCORE_SUBSET, description="Score a random subset only."
    )
    preannotation_min_score: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Detections scoring at least this are pre-drawn for annotators.",
    )
    preannotation_max_boxes: int = Field(
        20, ge=0, le=1000, description="At most this many pre-drawn boxes per image (best first)."
    )

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        if v not in STRATEGY_NAMES:
            raise ValueError(f"unknown strategy {v!r}; choose one of {', '.join(STRATEGY_NAMES)}")
        return v

    @model_validator(mode="after")
    def _strategy_params(self) -> PoolSettings:
        bounded_json(self.strategy_params, "strategy_params")
        param_specs.check_params(self.strategy, self.strategy_params)
        return self

    @model_validator(mode="after")
    def _train_overrides(self) -> PoolSettings:
        check_train_limits(self.train_overrides)
        check_train_overrides(self.train_preset, self.train_overrides)
        return self

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if v not in MODEL_PROFILES:
            raise ValueError(f"unknown model {v!r}; choose one of {', '.join(MODEL_PROFILES)}")
        return v

    @field_validator("train_preset")
    @classmethod
    def _preset(cls, v: str) -> str:
        if v not in TRAIN_PRESETS:
            raise ValueError(
                f"unknown train preset {v!r}; choose one of {', '.join(TRAIN_PRESETS)}"
            )
        return v


def check_class_names(v: list[str]) -> list[str]:
    """Stripped names; ``ValueError`` when empty, more than ``MAX_CLASSES``, blank, longer
    than ``MAX_CLASS_NAME``, duplicated or holding control characters (NUL, newlines, ...
    cannot go into a Label Studio config or every database; see ``has_control_chars``)."""
    if not v:
        raise ValueError("classes must not be empty")
    if len(v) > MAX_CLASSES:
        raise ValueError(f"at most {MAX_CLASSES} classes, got {len(v)}")
    names = [c.strip() for c in v]
    if any(not c for c in names):
        raise ValueError("class names must not be blank")
    if any(len(c) > MAX_CLASS_NAME for c in names):
        raise ValueError(f"class names must be at most {MAX_CLASS_NAME} characters")
    if any(has_control_chars(c) for c in names):
        raise ValueError("class names must not contain control characters")
    dupes = sorted(c for c, n in Counter(names).items() if n > 1)
    if dupes:
        raise ValueError(f"duplicate class names: {', '.join(dupes)}")
    return names


ClassName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLASS_NAME)]
ClassList = Annotated[
    list[ClassName],
    Field(
        # checked by check_class_names (clearer messages), stated here for the schema
        json_schema_extra={"minItems": 1, "maxItems": MAX_CLASSES},
        description=f"Ordered, unique, non-blank class names (1..{MAX_CLASSES}, each at most "
        f"{MAX_CLASS_NAME} characters, no control characters).",
    ),
]


def check_pool_name(v: str) -> str:
    v = v.strip()
    if not v:
        raise ValueError("name must not be blank")
    if has_control_chars(v):
        raise ValueError("name must not contain control characters")
    return v


class PoolCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_POOL_NAME)
    classes: ClassList
    settings: PoolSettings = Field(default_factory=PoolSettings)

    _name = field_validator("name")(classmethod(lambda cls, v: check_pool_name(v)))

    _classes = field_validator("classes")(classmethod(lambda cls, v: check_class_names(v)))


class PoolPatch(BaseModel):
    """Partial update. ``classes`` may only be extended (appended) once images are labeled."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=MAX_POOL_NAME)
    classes: ClassList | None = None
    settings: dict[str, Any] | None = Field(
        None, description="Partial settings; merged into the current ones and re-validated."
    )

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else check_class_names(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_pool_name(v)


class PoolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    classes: list[str]
    settings: PoolSettings
    created_at: datetime
    updated_at: datetime
    counts: dict[str, int] = Field(default_factory=dict)


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x1: float
    y1: float
    x2: float
    y2: float
    label: str = Field(min_length=1, max_length=MAX_CLASS_NAME)
    score: float | None = None


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    pool_id: int
    sha256: str
    filename: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    state: Literal["unlabeled", "queued", "labeled", "skipped"]
    split: Literal["train", "val"]
    created_at: datetime
