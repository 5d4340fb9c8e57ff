"""The images section (issue 3) of ``docs/benchmarks.md``: bytes, SSIM, time, upload-to-ready.

Sentences are built from the figures and written only when those were measured; an upload
latency that could not be measured is said so, with the reason, never replaced by a number.
"""

from __future__ import annotations

from bench.image_upload import WORKER, Latency
from bench.image_variants import APP_FORMATS, APP_WIDTHS, BASELINE, PHONE, ImageFigure, VariantFigure

SIDEWAYS = frozenset({5, 6, 7, 8})


def _kb(size: int) -> str:
    return f"{size / 1000:,.0f} KB" if size >= 10_000 else f"{size / 1000:,.1f} KB"


def image_table(figures: list[ImageFigure]) -> str:
    formats = list(APP_FORMATS)
    header = [
        "image",
        "pixels",
        "original",
        *[f"stored: all {fmt}" for fmt in formats],
        "stored: all variants",
        "original / stored",
        "min SSIM",
        "policy",
        "baseline",
        "baseline bytes",
        "baseline SSIM",
        "time ratio",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for f in figures:
        cells = [
            f.name,
            f"{f.size[0]}x{f.size[1]}",
            _kb(f.original_bytes),
            *[_kb(f.stored_bytes.get(fmt, 0)) for fmt in formats],
            _kb(f.total_stored),
            f"{f.original_bytes / f.total_stored:.1f}x",
            f"{f.min_ssim:.3f}",
            f"{f.policy_ms:,.0f} ms",
            f"{f.baseline_ms:,.0f} ms",
            _kb(f.baseline_bytes),
            f"{f.baseline_ssim:.3f}",
            f"{f.time_ratio:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def variant_table(variants: list[VariantFigure]) -> str:
    lines = ["| image | variant | format | bytes | SSIM (luma) |", "|---|---|---|---:|---:|"]
    for v in variants:
        lines.append(f"| {v.image} | {v.width}x{v.height} | {v.format} | {_kb(v.bytes)} | {v.ssim:.4f} |")
    return "\n".join(lines)


def latency_table(latencies: list[Latency], figures: list[ImageFigure]) -> str:
    policy = {f.name: f.policy_ms for f in figures}
    small = [f.policy_ms for f in figures if f.name != PHONE]
    lines = [
        "| database | photos | uploads | 202 answer p50 | ready p50 | ready p95 | policy alone"
        " (in-process) | ready p50 / policy |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for lat in latencies:
        alone = policy.get(lat.what) or (sum(small) / len(small) if small else 0.0)
        ratio = f"{lat.ready_p50 / alone:.1f}" if alone else "n/a"
        lines.append(
            f"| {lat.database} | {lat.what} | {lat.samples} | {lat.accepted_p50:,.0f} ms"
            f" | {lat.ready_p50:,.0f} ms | {lat.ready_p95:,.0f} ms | {alone:,.0f} ms | {ratio} |"
        )
    return "\n".join(lines)


def reading(figures: list[ImageFigure], latencies: list[Latency]) -> list[str]:
    sentences: list[str] = []
    phone = next((f for f in figures if f.name == PHONE), None)
    if phone:
        sentence = (
            f"For the 12 MP phone-like JPEG ({_kb(phone.original_bytes)}), the policy stored"
            f" {_kb(phone.total_stored)} in all its variants ({phone.original_bytes / phone.total_stored:.1f}"
            f" times less than the upload) at a lowest luma SSIM of {phone.min_ssim:.3f}, in"
            f" {phone.policy_ms:,.0f} ms: {phone.time_ratio:.1f} times the {phone.baseline_ms:,.0f} ms of"
            f" the plain full-size JPEG q75 save, which kept all {phone.size[0]}x{phone.size[1]} pixels in"
            f" {_kb(phone.baseline_bytes)}"
        )
        if phone.orientation in SIDEWAYS and phone.baseline_orientation != phone.orientation:
            sentence += (
                f" and dropped the EXIF orientation ({phone.orientation}) with the rest of the EXIF:"
                " that file would be shown sideways"
            )
        sentences.append(sentence + ".")
    photos = [f for f in figures if f.name != PHONE]
    if photos:
        lowest = min(photos, key=lambda f: f.min_ssim)
        sentences.append(
            f"The fixture photos are small (at most {max(max(f.size) for f in photos)} px long), so each is"
            " stored at its own size, never upscaled, and at the default widths below it, in"
            f" {' and '.join(APP_FORMATS)}; their lowest SSIM was"
            f" {lowest.min_ssim:.3f} ({lowest.name}), and their policy time"
            f" {min(f.policy_ms for f in photos):,.0f}-{max(f.policy_ms for f in photos):,.0f} ms."
        )
    phone_latency = [lat for lat in latencies if lat.what == PHONE]
    if phone_latency:
        each = " and ".join(
            f"p50 {lat.ready_p50:,.0f} ms / p95 {lat.ready_p95:,.0f} ms on {lat.database}"
            for lat in phone_latency
        )
        sentences.append(
            f"Uploading the 12 MP photo until `GET /api/images/{{id}}` says `ready` took {each}; on SQLite"
            " the worker polls once a second, so up to a second of it is waiting for the next poll, while"
            " on PostgreSQL the event store's NOTIFY wakes the worker."
        )
    return sentences


def section(
    figures: list[ImageFigure],
    variants: list[VariantFigure],
    latencies: list[Latency],
    upload_problem: str,
    upload_setup: str,
) -> list[str]:
    if not figures and not latencies and not upload_problem:
        return []
    widths = ", ".join(str(w) for w in APP_WIDTHS)
    parts = ["## Images (issue 3)", ""]
    if figures:
        parts += [
            f"`make_variants` with the app's default widths ({widths}, never upscaled) and formats"
            f" ({', '.join(APP_FORMATS)}) over the fixture photos and the generated 12 MP phone-like"
            f" JPEG (`tests/fixtures/hard_images.phone_jpeg_12mp`), against the baseline, {BASELINE};"
            " times are medians of runs alternating with the baseline; SSIM is luma SSIM"
            " (`tests/fixtures/ssim.py`) of each variant against its reference (the resized, oriented"
            " sRGB image before encoding) and, for the baseline, of the saved JPEG against the decoded"
            " original; time ratio = policy / baseline:",
            "",
            image_table(figures),
            "",
            "Every variant:",
            "",
            variant_table(variants),
            "",
        ]
    if latencies or upload_problem:
        parts += ["Upload to ready through the running service:", ""]
    if latencies:
        parts += [
            f"{upload_setup}; {WORKER}. Latency runs from sending the upload to the first"
            " `GET /api/images/{id}` answering `ready` (polled every 25 ms); the baseline is the"
            " policy's in-process time for the same photo from the table above (for the fixture"
            " photos, their mean):",
            "",
            latency_table(latencies, figures),
            "",
        ]
    if upload_problem:
        parts += [f"**TODO: upload-to-ready latency not measured in this run**: {upload_problem}", ""]
    sentences = reading(figures, latencies)
    if sentences:
        parts += [" ".join(sentences), ""]
    return parts
