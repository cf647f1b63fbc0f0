"""alp.client.Client against the real app (both engines): two clients uploading the same
folder at once store each image once; pagination and format round trip through the client."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from alp.client import Client
from tests.api.images_helpers import create_pool, image_bytes


def _client_on(test_client) -> Client:
    c = Client("http://testserver", "unused", retries=0)
    c.http.close()
    c.http = test_client  # the TestClient already sends a valid key
    c.http.base_url = "http://testserver/api/v1"
    return c


def test_two_concurrent_uploads_of_one_folder_store_each_image_once(client, tmp_path: Path):
    pid = create_pool(client)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(30):
        (folder / f"{i:02d}.png").write_bytes(image_bytes("PNG", seed=i + 1))
    c = _client_on(client)
    summaries, errors = [], []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            summaries.append(c.upload_files(pid, [folder], workers=2, batch_files=4))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sum(s.accepted for s in summaries) == 30  # each image stored by exactly one
    assert all(s.accepted + s.duplicates + s.skipped == 30 for s in summaries)
    images = list(c.iter_images(pid, page_size=7))  # 5 pages
    assert len(images) == 30 and len({i.sha256 for i in images}) == 30
    again = c.upload_files(pid, [folder])
    assert (again.skipped, again.accepted, again.duplicates) == (30, 0, 0)


def test_client_import_export_folder_round_trip(client, tmp_path: Path) -> None:
    pid = create_pool(client)
    c = _client_on(client)
    ds = tmp_path / "yolo"
    (ds / "images").mkdir(parents=True)
    (ds / "labels").mkdir()
    (ds / "data.yaml").write_text("names: [car, bus]\n")
    (ds / "images" / "a.jpg").write_bytes(image_bytes(w=64, h=48, seed=1))
    (ds / "labels" / "a.txt").write_text("1 0.5 0.5 0.25 0.5\n")
    r = c.import_labels(pid, "yolo", ds)  # a folder is zipped on the fly
    assert (r.images_labeled, r.annotations, r.images_from_archive) == (1, 1, 1)
    out = c.export(pid, "coco", tmp_path / "c.json")
    doc = json.loads(out.read_text())
    assert doc["annotations"][0]["bbox"] == [24.0, 12.0, 16.0, 24.0]
    assert doc["categories"][doc["annotations"][0]["category_id"] - 1]["name"] == "bus"
