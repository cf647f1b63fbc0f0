"""HeadConfig serialisation, presets and validation."""

from __future__ import annotations

import json

import pytest

from models.heads.config import PRESET_NAMES, HeadConfig, Reweight, head_preset


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_presets_round_trip_through_json(name: str) -> None:
    cfg = head_preset(name)
    again = HeadConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_preset_contents() -> None:
    assert head_preset("vanilla").rcnn_is_stock()
    huale = head_preset("huale")
    assert (huale.emphasis, huale.reg_loss, huale.uncertainty_head) == ("a", "synchronic", True)
    assert (huale.emphasis_negatives, huale.eiou_weight) == ("zero", 10.0)
    pisa = head_preset("pisa")
    assert pisa.sampler == "score_hlr" and pisa.isr_p == Reweight(2.0, 0.0)
    assert pisa.carl == Reweight(1.0, 0.2) and pisa.retina_carl == Reweight(1.0, 0.2)
    assert head_preset("libra").sampler == "libra"
    assert head_preset("aploss").retina_cls_loss == "aploss"
    with pytest.raises(ValueError, match="unknown head preset"):
        head_preset("nope")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sampler": "ohem"}, "sampler"),
        ({"reg_loss": "synchronic"}, "uncertainty_head"),
        ({"uncertainty_head": True}, "uncertainty_head"),
        ({"emphasis": "d"}, "emphasis"),
        ({"eiou_gamma": 2.0}, "eiou_gamma"),
        ({"eiou_weight": -1.0}, "eiou_weight"),
        ({"retina_cls_loss": "aploss", "retina_isr_p": {"k": 2, "bias": 0}}, "aploss"),
        ({"isr_p": {"k": 2}}, "isr_p"),
        ({"carl": {"k": 1.0, "bias": 2.0}}, "bias"),
        ({"sampler_num": 0}, "sampler_num"),
        ({"score_hlr_candidate_factor": 0.5}, "candidate_factor"),
    ],
)
def test_invalid_configs_raise_with_a_reason(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HeadConfig(**kwargs)


def test_from_dict_rejects_unknown_keys_and_accepts_partial() -> None:
    with pytest.raises(ValueError, match="HeadConfig: unknown key 'typo'"):
        HeadConfig.from_dict({"sampler": "libra", "typo": 1})
    cfg = HeadConfig.from_dict({"carl": {"k": 1, "bias": 0.2}})
    assert cfg.carl == Reweight(1.0, 0.2) and cfg.sampler == "default"
