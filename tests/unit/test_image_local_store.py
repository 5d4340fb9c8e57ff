"""LocalImageStore: one directory per image, one file per variant, replaced whole on every store."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from infrastructure.images.files import TEMP_PREFIX
from infrastructure.images.image_store import PermanentStoreError, StoredVariant, TransientStoreError
from infrastructure.images.local_store import LocalImageStore
from infrastructure.images.variants import Variant, make_variants
from tests.fixtures import hard_images as hard


@pytest.fixture(scope="module")
def variants() -> list[Variant]:
    return make_variants(hard.photo("coffee.png"), widths=(600, 480, 240), formats=("webp", "jpeg"))


@pytest.fixture
def store(tmp_path: Path) -> LocalImageStore:
    return LocalImageStore(tmp_path / "media" / "images", base_url="/media/images/")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_each_variant_is_a_file_named_by_width_and_served_under_base_url(
    store: LocalImageStore, variants: list[Variant]
) -> None:
    image_id = uuid.uuid4()
    stored = store.store(image_id, variants)
    assert files_under(store.root) == sorted(
        f"{image_id}/{name}" for name in ("600.webp", "600.jpg", "480.webp", "480.jpg", "240.webp", "240.jpg")
    )
    assert stored[0] == StoredVariant(
        url=f"/media/images/{image_id}/600.webp",
        width=600,
        height=400,
        format="webp",
        size_bytes=variants[0].size_bytes,
    )
    for variant, result in zip(variants, stored, strict=True):
        assert (store.root / result.url.removeprefix("/media/images/")).read_bytes() == variant.data
        assert (result.width, result.height, result.format) == (variant.width, variant.height, variant.format)


def test_variant_files_are_readable_by_a_web_server(store: LocalImageStore, variants: list[Variant]) -> None:
    image_id = uuid.uuid4()
    store.store(image_id, variants[:1])
    path = store.root / str(image_id) / "600.webp"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_storing_again_overwrites_and_never_duplicates(
    store: LocalImageStore, variants: list[Variant]
) -> None:
    image_id = uuid.uuid4()
    first = store.store(image_id, variants)
    again = store.store(image_id, variants)
    assert again == first
    assert len(files_under(store.root)) == len(variants)
    assert not [p for p in store.root.rglob(f"{TEMP_PREFIX}*")]


def test_a_later_store_with_fewer_variants_removes_the_stale_ones(
    store: LocalImageStore, variants: list[Variant]
) -> None:
    image_id = uuid.uuid4()
    store.store(image_id, variants)
    store.store(image_id, variants[:2])
    assert files_under(store.root) == sorted([f"{image_id}/600.webp", f"{image_id}/600.jpg"])


def test_images_do_not_touch_each_other(store: LocalImageStore, variants: list[Variant]) -> None:
    kept, removed = uuid.uuid4(), uuid.uuid4()
    store.store(kept, variants[:1])
    store.store(removed, variants[:1])
    store.delete(removed)
    assert files_under(store.root) == [f"{kept}/600.webp"]


def test_delete_removes_the_image_and_is_harmless_twice(
    store: LocalImageStore, variants: list[Variant]
) -> None:
    image_id = uuid.uuid4()
    store.store(image_id, variants)
    store.delete(image_id)
    store.delete(image_id)
    assert files_under(store.root) == []


def test_two_variants_with_one_file_name_are_refused(store: LocalImageStore, variants: list[Variant]) -> None:
    with pytest.raises(PermanentStoreError, match="share a file name"):
        store.store(uuid.uuid4(), [variants[0], variants[0]])


def test_a_root_that_is_not_a_directory_is_a_permanent_error(tmp_path: Path, variants: list[Variant]) -> None:
    not_a_directory = tmp_path / "media"
    not_a_directory.write_text("oops")
    with pytest.raises(PermanentStoreError, match="cannot write"):
        LocalImageStore(not_a_directory).store(uuid.uuid4(), variants[:1])


def test_a_disk_failure_part_way_keeps_the_stored_set_and_leaves_no_temporary_file(
    store: LocalImageStore, variants: list[Variant], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variants' fsyncs run on threads: the second one failing must undo the others' work."""
    image_id = uuid.uuid4()
    before = store.store(image_id, variants[:2])
    contents = {name: (store.root / name).read_bytes() for name in files_under(store.root)}
    real_fsync, calls = os.fsync, []

    def second_fails(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", second_fails)
    with pytest.raises(TransientStoreError, match="Input/output error"):
        store.store(image_id, variants[2:])
    monkeypatch.undo()
    assert {name: (store.root / name).read_bytes() for name in files_under(store.root)} == contents
    assert not [p for p in store.root.rglob(f"{TEMP_PREFIX}*")]
    assert store.store(image_id, variants[:2]) == before
