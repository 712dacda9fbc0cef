"""The quick recipes' figure: each family's last sample grid (its first 16 samples, 4x4), titled
with the family and the CPU seconds its minute of training took.

    python tools/quick_grids.py runs/quick dcgan:56 gan:52 ... --out docs/models/figures/quick_grids.png

RUNS/FAMILY/samples/ holds the grids `genlab train` wrote (8 per row, 2 px padding, drawn at 2x).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

CELL, PAD, SCALE, PER_ROW = 28, 2, 2, 8  # genlab's sample grids: 28 px digits, 2 px gaps, 2x, 8 per row
TITLE, COLUMNS = 22, 5


def first_sixteen(grid: Image.Image) -> Image.Image:
    step, side = (CELL + PAD) * SCALE, CELL * SCALE
    out = Image.new("L", (4 * step, 4 * step))
    for i in range(16):
        r, c = divmod(i, PER_ROW)
        x0, y0 = PAD * SCALE + c * step, PAD * SCALE + r * step
        cell = grid.crop((x0, y0, x0 + side, y0 + side))
        out.paste(cell, ((i % 4) * step + PAD, (i // 4) * step + PAD))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path)
    ap.add_argument("panels", nargs="+", help="FAMILY:CPU_SECONDS, in the order to draw them")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    panels = []
    for item in args.panels:
        family, seconds = item.split(":")
        last = sorted((args.runs / family / "samples").glob("step_*.png"))[-1]
        panels.append((f"{family} {seconds} CPU-s", first_sixteen(Image.open(last).convert("L"))))
    w, h = panels[0][1].size
    rows = (len(panels) + COLUMNS - 1) // COLUMNS
    sheet = Image.new("RGB", (COLUMNS * (w + 4), rows * (h + TITLE)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (title, pic) in enumerate(panels):
        x, y = (i % COLUMNS) * (w + 4), (i // COLUMNS) * (h + TITLE)
        draw.text((x + 2, y + 4), title, fill="black")
        sheet.paste(pic, (x, y + TITLE))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
