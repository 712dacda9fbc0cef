"""Which square image sizes a family takes: the stride-2 conv plan, and the refusal of others."""
from __future__ import annotations

CONV_SIZES = (16, 28, 32, 56, 64, 112, 128)
PAD32_HINT = "for MNIST use data 'mnist-pad32' (the 28x28 digits padded to 32x32)"  # 28 is no power of two


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


def square_sides(sides: tuple[int, ...], hint: str = "") -> str:
    """A family's `supported_shapes` text: square images of these sides, any channel count."""
    text = f"square images of side {', '.join(map(str, sides))}, any channel count"
    return f"{text}; {hint}" if hint else text


def check_square(name: str, spec, sides: tuple[int, ...], shapes: str) -> None:
    """Refuse (ValueError) data that is not square with a side in `sides`, naming what `name` takes."""
    if spec.height != spec.width or spec.height not in sides:
        raise ValueError(f"{name} takes {shapes}; got {spec.describe()}")
