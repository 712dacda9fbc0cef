"""Which square image sizes a stride-2 conv stack can build, and how."""
from __future__ import annotations

CONV_SIZES = (16, 28, 32, 56, 64, 112, 128)


def conv_plan(size: int) -> tuple[int, int]:
    """(base resolution, stride-2 stages) with base * 2**stages == size, base 7 or 4.

    7 serves 28x28 MNIST without padding; 4 the powers of two.
    """
    for base in (7, 4):
        stages = 0
        while base * 2 ** stages < size:
            stages += 1
        if base * 2 ** stages == size and stages >= 2:
            return base, stages
    raise ValueError(f"the conv net takes square images of side {', '.join(map(str, CONV_SIZES))}; got {size}")
