"""Written bytes vs the model's rate estimate: ``python -m bench overhead --dataset DIR``.

For every image and quality: the information content the model estimates per layer
(``Codec.estimate``), the payload bytes each layer's ANS stream really takes, and the
fixed container overhead (header and 8 bytes of framing a layer).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.images import list_images, load_rgb


@dataclass(frozen=True)
class Overhead:
    images: int
    qualities: tuple[float, ...]
    estimate_bits: float  # summed over images, qualities and layers
    payload_bits: float
    container_bits: float
    min_ratio: float  # smallest payload / estimate of one file
    max_ratio: float

    @property
    def payload_overhead(self) -> float:
        """Relative excess of the ANS payload over the estimate."""
        return self.payload_bits / self.estimate_bits - 1


def measure(dataset: str | Path, qualities=(1.0, 4.0, 8.0), limit: int | None = None,
            model_name: str | None = None) -> Overhead:
    import codec
    from codec.container import parse

    model = codec.load(model_name)
    files = list_images(dataset, limit)
    estimate = payload = container = 0.0
    ratios = []
    for file in files:
        image = load_rgb(file.path)
        for q in qualities:
            est = model.estimate(image, q).bits
            data = model.compress(image, q)
            chunks = parse(data).chunks
            written = 8.0 * sum(len(c) for c in chunks)
            estimate += est
            payload += written
            container += 8.0 * len(data) - written
            ratios.append(written / est)
    return Overhead(len(files), tuple(qualities), estimate, payload, container, min(ratios), max(ratios))


def report(result: Overhead) -> str:
    return (f"{result.images} images x qualities {', '.join(f'{q:g}' for q in result.qualities)}: "
            f"payload {result.payload_bits / 8:.0f} bytes vs estimate {result.estimate_bits / 8:.0f} bytes, "
            f"overhead {100 * result.payload_overhead:+.3f}% (per file {100 * (result.min_ratio - 1):+.3f}% "
            f"to {100 * (result.max_ratio - 1):+.3f}%); container header and framing "
            f"{result.container_bits / 8 / (result.images * len(result.qualities)):.0f} bytes a file")
