"""The per-image quality search and the luma SSIM that steers it (issue 11)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageFilter

from infrastructure.images.quality_search import STEP, QualityRange, search_quality
from infrastructure.images.ssim import IncomparableImages, LumaReference, luma_ssim
from infrastructure.images.variants import (
    DEFAULT_WIDTHS,
    QUALITY_RANGES,
    SEARCHED_WEBP_METHOD,
    encode,
    make_variants,
    prepare,
)
from tests.fixtures import hard_images as hard
from tests.fixtures.ssim import reference_luma_ssim

TARGET = 0.95
WEBP = QUALITY_RANGES["webp"]


def luma(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("L")


def webp(image: Image.Image, quality: int) -> bytes:
    # A copy: Pillow's save() keeps its options on the image, and the searches encode on threads.
    return encode(image.copy(), "webp", quality, webp_method=SEARCHED_WEBP_METHOD).data


def reference(name: str) -> Image.Image:
    return prepare(hard.photo(name), (2048,))[0]


class Counting:
    """An encoder that remembers which qualities it was asked for."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image
        self.asked: list[int] = []

    def __call__(self, quality: int) -> bytes:
        self.asked.append(quality)
        return webp(self.image, quality)


@pytest.fixture(scope="module")
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


@pytest.mark.parametrize("quality", [30, 60, 90])
def test_the_policys_ssim_is_the_reference_implementations(quality: int) -> None:
    image = reference("coffee.png").resize((200, 133))
    candidate = luma(webp(image, quality))
    assert luma_ssim(image, candidate) == pytest.approx(reference_luma_ssim(image, candidate), abs=1e-9)


@pytest.mark.parametrize("size", [(7, 7), (40, 7), (7, 40), (71, 135)])
def test_the_window_sums_hold_at_the_edges_of_the_window_and_the_strips(size: tuple[int, int]) -> None:
    """One window, one row or column of windows, and strips that end part-way: the same SSIM."""
    noise = np.random.default_rng(11).integers(0, 256, size[::-1], dtype=np.uint8)
    image = Image.fromarray(noise, "L")
    candidate = image.filter(ImageFilter.GaussianBlur(1))
    assert luma_ssim(image, candidate) == pytest.approx(reference_luma_ssim(image, candidate), abs=1e-9)


def test_ssim_refuses_what_it_cannot_compare() -> None:
    with pytest.raises(IncomparableImages):
        LumaReference(Image.new("L", (6, 100)))
    with pytest.raises(IncomparableImages):
        LumaReference(Image.new("L", (50, 50))).ssim(Image.new("L", (50, 51)))


@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "astronaut.png"])
def test_the_search_keeps_the_lowest_quality_of_the_grid_that_reaches_the_target(name: str) -> None:
    image = reference(name)
    found = search_quality(image, lambda q: webp(image, q), luma, WEBP, TARGET)
    assert luma_ssim(image, luma(found.data)) >= TARGET
    assert found.data == webp(image, found.quality), "the bytes kept are the ones measured"
    if found.quality > WEBP.floor:
        below = webp(image, found.quality - STEP)
        assert luma_ssim(image, luma(below)) < TARGET, "a lower quality would have done"


def test_the_search_asks_for_few_encodes() -> None:
    image = reference("coffee.png")
    encoder = Counting(image)
    search_quality(image, encoder, luma, WEBP, TARGET)
    assert len(WEBP.grid()) == 7
    assert len(encoder.asked) <= 3, "a bisection of seven qualities"


def test_an_easy_image_stops_at_the_floor_although_lower_qualities_would_pass() -> None:
    """Luma SSIM is lenient with smooth pictures: the floor, not SSIM, bounds the smearing."""
    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    image = Image.merge("RGB", [Image.fromarray(ramp)] * 3)
    assert luma_ssim(image, luma(webp(image, WEBP.floor - 30))) >= TARGET
    found = search_quality(image, lambda q: webp(image, q), luma, WEBP, TARGET)
    assert found.quality == WEBP.floor


def test_a_target_out_of_reach_keeps_the_ceiling() -> None:
    image = reference("chelsea.png")
    found = search_quality(image, lambda q: webp(image, q), luma, WEBP, 1.0)
    assert (found.quality, found.data) == (WEBP.ceiling, webp(image, WEBP.ceiling))
    assert found.ssim is not None
    assert found.ssim < 1.0


def test_a_hint_is_tried_first_then_one_step_above_and_never_undercut() -> None:
    image = reference("coffee.png")
    free = search_quality(image, lambda q: webp(image, q), luma, WEBP, TARGET)
    assert free.quality - STEP >= WEBP.floor, "the photo must leave room below its quality"
    exact = Counting(image)
    assert search_quality(image, exact, luma, WEBP, TARGET, at_least=free.quality).quality == free.quality
    assert exact.asked == [free.quality]
    low = Counting(image)
    hinted = search_quality(image, low, luma, WEBP, TARGET, at_least=free.quality - STEP)
    assert low.asked == [free.quality - STEP, free.quality]
    assert hinted.quality == free.quality
    high = Counting(image)
    assert search_quality(image, high, luma, WEBP, TARGET, at_least=WEBP.ceiling).quality == WEBP.ceiling
    assert min(high.asked) >= WEBP.ceiling


@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg"])
def test_a_first_guess_changes_how_many_encodes_not_what_is_found(name: str) -> None:
    image = reference(name)
    middle = search_quality(image, lambda q: webp(image, q), luma, WEBP, TARGET)
    for first in WEBP.grid():
        guessed = Counting(image)
        found = search_quality(image, guessed, luma, WEBP, TARGET, first=first)
        assert (found.quality, found.data) == (middle.quality, middle.data), first
        assert guessed.asked[0] == first
        assert len(guessed.asked) <= 4


def test_the_second_size_of_the_12_megapixel_photo_is_found_in_two_encodes() -> None:
    """The guess one step above the floor: its pass and the floor's miss settle it."""
    image = prepare(hard.phone_jpeg_12mp(), DEFAULT_WIDTHS)[1]
    guessed = Counting(image)
    found = search_quality(image, guessed, luma, WEBP, TARGET, first=WEBP.grid()[1])
    assert guessed.asked == [WEBP.floor + STEP, WEBP.floor]
    assert found.quality == WEBP.floor + STEP
    assert search_quality(image, lambda q: webp(image, q), luma, WEBP, TARGET).data == found.data


def test_a_sliver_too_small_to_measure_gets_the_ceiling() -> None:
    image = Image.new("RGB", (300, 4), "teal")
    found = search_quality(image, lambda q: webp(image, q), luma, WEBP, TARGET)
    assert (found.quality, found.ssim) == (WEBP.ceiling, None)


def test_every_grid_starts_at_its_floor_and_ends_at_its_ceiling() -> None:
    for qualities in QUALITY_RANGES.values():
        grid = qualities.grid()
        assert (grid[0], grid[-1]) == (qualities.floor, qualities.ceiling)
    assert QualityRange(60, 90).grid() == [60, 65, 70, 75, 80, 85, 90]


@pytest.mark.parametrize("name", hard.CORPUS)
def test_every_searched_variant_of_the_corpus_keeps_ssim_and_is_smaller_than_its_source(name: str) -> None:
    data = hard.photo(name)
    references = prepare(data, DEFAULT_WIDTHS)
    variants = make_variants(data, DEFAULT_WIDTHS, ["webp"], target_ssim=TARGET)
    with Image.open(io.BytesIO(data)) as original:
        source_size = original.size
    for ref, variant in zip(references, variants, strict=True):
        assert WEBP.floor <= variant.quality <= WEBP.ceiling
        assert luma_ssim(ref, luma(variant.data)) >= TARGET, (name, variant.width)
        if (variant.width, variant.height) == source_size:
            assert variant.size_bytes < len(data), "no variant is larger than its source at the same size"


@pytest.mark.parametrize("hint", [None, 60, 70])
@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "rocket.jpg"])
def test_an_executor_changes_who_works_not_what_is_tried_or_found(
    name: str, hint: int | None, executor: ThreadPoolExecutor
) -> None:
    image = reference(name)
    alone = Counting(image)
    serial = search_quality(image, alone, luma, WEBP, TARGET, at_least=hint)
    shared = Counting(image)
    found = search_quality(image, shared, luma, WEBP, TARGET, at_least=hint, executor=executor)
    assert (found.quality, found.data) == (serial.quality, serial.data)
    assert found.ssim == pytest.approx(serial.ssim, abs=1e-12)  # summed in another order
    assert shared.asked == alone.asked


def test_ssim_shared_between_threads_is_the_same_number(executor: ThreadPoolExecutor) -> None:
    image = reference("astronaut.png")
    measure = LumaReference(image)
    candidate = luma(webp(image, 60))
    assert measure.ssim(candidate, executor) == pytest.approx(measure.ssim(candidate), abs=1e-12)


def test_formats_searched_side_by_side_keep_each_its_own_quality() -> None:
    """Two formats of one size are searched on two threads: each variant is its quality's bytes."""
    data = hard.photo("coffee.png")
    references = {image.width: image for image in prepare(data, (480, 240))}
    variants = make_variants(data, (480, 240), ["webp", "jpeg"], target_ssim=TARGET)
    assert sorted((v.width, v.format) for v in variants) == [
        (240, "jpeg"),
        (240, "webp"),
        (480, "jpeg"),
        (480, "webp"),
    ]
    for variant in variants:
        alone = encode(
            references[variant.width], variant.format, variant.quality, webp_method=SEARCHED_WEBP_METHOD
        )
        assert variant.data == alone.data, (variant.width, variant.format, variant.quality)
