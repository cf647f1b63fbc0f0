"""What the dashboard tells a person (issue 15): the learning curve over labeled training
images with distinct tick labels, per-class AP, Label Studio task counts, the training
count of a cycle in training, one cycle number (the pool's index), the favicon, compact
gallery numbers. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image as PILImage

from alp.db import Cycle, Selection
from api.dashboard.pages import num
from tests.e2e.dashboard_seed import seed_pool


def _texts(html: str, cls: str) -> list[str]:
    return re.findall(rf'class="{cls}">([^<]*)</text>', html)


def test_curve_x_axis_counts_labeled_training_images(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "p")  # 70/79/87 labeled of which 40 validation each time
    db.commit()
    st = signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/status").json()
    assert [p["train_images"] for p in st["curve"]] == [30, 39, 47]
    assert [(c["labeled_count"], c["train_images"], c["val_images"]) for c in st["cycles"]] == [
        (70, 30, 40),
        (79, 39, 40),
        (87, 47, 40),
    ]
    html = signed_in.get(f"/pools/{s.pool_id}").text
    assert 'data-axis="x">labeled training images</text>' in html
    assert _texts(html, "tick-x") == ["30", "35", "40", "45", "50"]  # not 70..87
    assert '<td class="num">47</td>' in html.split('id="timeline"')[0]  # curve data table


def test_legacy_cycles_without_train_count_use_labeled_less_validation(
    signed_in, db, storage
) -> None:
    s = seed_pool(db, storage, "old", finished=[])
    db.add_all(
        [
            Cycle(pool_id=s.pool_id, index=0, state="done", labeled_count=90,
                  metrics={"map50": 0.1, "coco_ap": 0.05, "val_images": 60}),
            Cycle(pool_id=s.pool_id, index=1, state="done", labeled_count=99,
                  metrics={"map50": 0.2, "coco_ap": 0.1, "val_images": 60}),
        ]
    )  # fmt: skip
    db.commit()
    st = signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/status").json()
    assert [(p["cycle_index"], p["train_images"]) for p in st["curve"]] == [(0, 30), (1, 39)]


def test_low_ap_axis_has_distinct_tick_labels(signed_in, db, storage) -> None:
    low = [
        {"labeled": 50, "train": 10, "val": 40, "map50": 0.004, "coco_ap": 0.001},
        {"labeled": 60, "train": 20, "val": 40, "map50": 0.009, "coco_ap": 0.002},
        {"labeled": 70, "train": 30, "val": 40, "map50": 0.012, "coco_ap": 0.004},
    ]
    s = seed_pool(db, storage, "low", finished=low)
    db.commit()
    labels = _texts(signed_in.get(f"/pools/{s.pool_id}").text, "tick-y")
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert labels[0] == "0" and float(labels[-1]) >= 0.012


def test_per_class_ap_of_the_latest_evaluated_cycle(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "p", extra_cycle={"state": "training"})
    db.commit()
    st = signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/status").json()
    assert st["per_class"]["cycle_index"] == 2 and st["per_class"]["val_images"] == 40
    assert [
        (c["name"], c["num_gt"], c["ap50"], c["coco_ap"]) for c in st["per_class"]["classes"]
    ] == [
        ("cat", 31, 0.61, 0.27),
        ("dog", 12, 0.29, 0.11),
    ]
    html = signed_in.get(f"/pools/{s.pool_id}").text
    table = html.split('id="per-class"')[1].split("</table>")[0]
    assert re.search(r'data-class="cat"><th scope="row">cat</th><td class="num">31</td>'
                     r'<td class="num">0.610</td><td class="num">0.270</td>', table)  # fmt: skip
    assert "0.290" in table and "cycle #2, 40 validation images" in html


def test_per_class_ap_absent_until_evaluated(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "fresh", finished=[], extra_cycle={"state": "training"})
    db.commit()
    assert signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/status").json()["per_class"] is None
    assert "No per-class AP yet" in signed_in.get(f"/pools/{s.pool_id}").text


def test_label_studio_task_counts(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "ls", selection_size=5, labelstudio=True,
                  ls_outcomes=("annotated", "skipped", "annotated"))  # fmt: skip
    # the image of task 103 was selected again in a later cycle and its task reused:
    # counted once, with what the latest selection says
    later = Cycle(pool_id=s.pool_id, index=3, state="labeling")
    db.add(later)
    db.flush()
    first = db.get(Selection, s.selection_ids[3])
    db.add(Selection(cycle_id=later.id, image_id=first.image_id, rank=0, score=0.5,
                     ls_task_id=103, ls_outcome="annotated"))  # fmt: skip
    db.commit()
    ls = signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/status").json()["labelstudio"]
    assert (ls["pushed"], ls["annotated"], ls["skipped"], ls["remaining"]) == (5, 3, 1, 1)
    html = signed_in.get(f"/pools/{s.pool_id}").text
    for name, n in (("pushed", 5), ("annotated", 3), ("skipped", 1), ("remaining", 1)):
        assert f'<span data-ls="{name}">{n}</span> {name}' in html


def test_cycle_in_training_shows_its_training_count_or_a_dash(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "t", extra_cycle={"state": "training", "labeled": 96,
                                                  "metrics": {"train_images": 56}})  # fmt: skip
    pending = seed_pool(db, storage, "q", finished=[], extra_cycle={"state": "pending"})
    db.commit()
    st = signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/status").json()
    assert st["current"]["state"] == "training" and st["current"]["train_images"] == 56
    row = signed_in.get(f"/pools/{s.pool_id}").text.split(f'data-cycle="{s.cycle_ids[-1]}"')[1]
    assert row.split("</tr>")[0].count('<td class="num" data-train-images>56</td>') == 1
    html = signed_in.get(f"/pools/{pending.pool_id}").text
    cell = html.split(f'data-cycle="{pending.cycle_ids[-1]}"')[1].split("</tr>")[0]
    assert '<td class="num" data-train-images>—</td>' in cell  # unknown yet, not 0


def test_cycles_are_named_by_index_in_messages(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "n", extra_cycle={"state": "training"})
    db.commit()
    done_id = s.cycle_ids[1]  # index 1, a different database id
    r = signed_in.post(f"/api/v1/cycles/{done_id}/retry", headers={"X-ALP-CSRF": "1"})
    assert r.status_code == 409
    assert r.json()["detail"].startswith(f"cycle #1 (id {done_id}) is done")
    r = signed_in.post(f"/api/v1/pools/{s.pool_id}/cycles", headers={"X-ALP-CSRF": "1"})
    assert r.status_code == 409
    assert f"active cycle #3 (id {s.cycle_ids[-1]}, state training)" in r.json()["detail"]
    html = signed_in.get(f"/pools/{s.pool_id}").text
    assert "Cycle #3" in html and f"#{s.cycle_ids[-1]} " not in html.replace("#3 ", "")


def test_favicon_is_served_without_a_session(anon_client) -> None:
    r = anon_client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/x-icon"
    icon = PILImage.open(io.BytesIO(r.content))
    assert icon.format == "ICO" and (32, 32) in icon.info["sizes"]
    assert '<link rel="icon" href="/favicon.ico"' in anon_client.get("/login").text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.48213, "0.4821"), (12.0, "12"), (123456.789, "1.235e+05"), (3e-7, "3e-07"),
     (None, "—"), ("n/a", "n/a")],
)  # fmt: skip
def test_gallery_numbers_are_compact(value, text) -> None:
    assert num(value) == text


def test_gallery_long_component_names_keep_their_full_name(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "g", selection_size=1)
    sel = db.get(Selection, s.selection_ids[0])
    sel.components = {"localization_uncertainty_norm": 123456.789}
    db.commit()
    html = signed_in.get(f"/pools/{s.pool_id}").text
    assert ('<dt title="localization_uncertainty_norm">localization_uncertainty_norm</dt>'
            '<dd title="123456.789">1.235e+05</dd>') in html  # fmt: skip


def test_gallery_shows_boxes_predrawn_per_label_studio_task(signed_in, db, storage) -> None:
    s = seed_pool(db, storage, "pre", selection_size=3, labelstudio=True,
                  ls_outcomes=(None, None, None))  # fmt: skip
    counts = (4, 1, 0)
    for sid, n in zip(s.selection_ids, counts, strict=True):
        db.get(Selection, sid).ls_boxes = n
    db.commit()
    gal = signed_in.get(f"/api/v1/dashboard/pools/{s.pool_id}/gallery").json()
    assert sorted(i["ls_boxes"] for i in gal["items"]) == sorted(counts)
    html = signed_in.get(f"/pools/{s.pool_id}").text
    assert '<p class="predrawn" data-predrawn="4">4 boxes pre-drawn in Label Studio</p>' in html
    assert '<p class="predrawn" data-predrawn="1">1 box pre-drawn in Label Studio</p>' in html
    assert 'data-predrawn="0">0 boxes pre-drawn' in html
