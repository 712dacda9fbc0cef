"""How long from moving a latent slider to seeing the new image, in a real browser?

    python tools/bench_ui_latency.py                      # the shipped dcgan-mnist
    python tools/bench_ui_latency.py --model run:my-run --moves 60 --json out.json

Launches the app in-process on a free loopback port, opens it in headless Debian chromium
(Playwright), picks the model in the Latent explorer and moves a slider `--moves` times.
Each move is timed with the page's own clock, from the slider's `input` event to the `load`
event of the new <img> (what a user sees), and with the Python clock around fill() ->
new src. The server-side preview handler is timed too, so the Gradio round trip can be told
apart from the model. Prints the conditions (cores, load average, torch threads) with the
numbers: on a shared machine they matter.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var, ""), "127.0.0.1,localhost"]))

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]

# Page clock: slider `input` -> the new <img> has loaded. `load` does not bubble; capture it.
INSTRUMENT = """
() => {
  const out = document.querySelector('#latent-image');
  const src = () => (out.querySelector('img') || {}).src;
  window.__lat = {t_input: null, t_src: null, t_load: null, old: src()};
  document.querySelector('#latent-axis-0').addEventListener('input',
    () => { window.__lat = {t_input: performance.now(), t_src: null, t_load: null, old: src()}; }, true);
  new MutationObserver(() => {  // the answer has arrived: the <img> gets a new address
    const l = window.__lat;
    if (l.t_input !== null && l.t_src === null && src() !== l.old) l.t_src = performance.now();
  }).observe(out, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  out.addEventListener('load', () => {  // ... and the browser has fetched and decoded it
    const l = window.__lat;
    if (l.t_input !== null && l.t_load === null && src() !== l.old) l.t_load = performance.now();
  }, true);
}
"""


def summary(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"median": round(statistics.median(xs), 1), "p90": round(xs[int(0.9 * (len(xs) - 1))], 1),
            "min": round(xs[0], 1), "max": round(xs[-1], 1), "n": len(xs)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="dcgan-mnist", help="catalogue key (shipped name or run:<dir>)")
    p.add_argument("--moves", type=int, default=40)
    p.add_argument("--gap-ms", type=int, default=150, help="pause between moves (lets always_last settle)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    import re

    import torch
    from playwright.sync_api import expect, sync_playwright

    from ui.app import build_app, serve

    demo = build_app(threads=args.threads)
    server_ms: list[float] = []
    for fn in demo.fns.values():  # time the preview handler itself
        if fn.api_name == "latent_preview":
            inner = fn.fn

            def timed(*a, _inner=inner):
                t0 = time.perf_counter()
                out = _inner(*a)
                server_ms.append((time.perf_counter() - t0) * 1000)
                return out
            fn.fn = timed
    url = serve(demo, block=False)
    page_ms, src_ms, py_ms = [], [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("tab", name="Latent explorer").click()
            img = page.locator("#latent-image img")
            img.wait_for(timeout=60_000)
            page.locator("#latent-model input").click()
            page.get_by_role("option", name=re.compile(re.escape(args.model) + " ")).first.click()
            expect(page.locator("#latent-info")).to_contain_text("z from", timeout=60_000)
            page.wait_for_timeout(1000)
            page.evaluate(INSTRUMENT)
            rng = page.get_by_role("slider", name="range slider for z[0]")
            server_ms.clear()
            current = float(page.get_by_role("spinbutton", name="number input for z[0]").input_value())
            for i in range(args.moves):
                # jump around (golden-ratio steps over [-3, 3], on the slider's 0.05 grid), never onto
                # the value already shown: the same pixels would keep the same <img> src
                value = round((-3 + 6 * ((i + 1) * 0.6180339887 % 1)) / 0.05) * 0.05
                if abs(value - current) < 0.2:
                    value = value + 0.5 if value < 2.5 else value - 0.5
                current = value
                value = f"{value:.2f}"
                before = img.get_attribute("src")
                t0 = time.perf_counter()
                rng.fill(value)
                expect(img).not_to_have_attribute("src", before, timeout=10_000)
                page.wait_for_function("window.__lat.t_load !== null", timeout=10_000)
                py_ms.append((time.perf_counter() - t0) * 1000)
                lat = page.evaluate("window.__lat")
                page_ms.append(lat["t_load"] - lat["t_input"])
                src_ms.append(lat["t_src"] - lat["t_input"])
                page.wait_for_timeout(args.gap_ms)
            browser.close()
    finally:
        demo.close()

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    result = {
        "model": args.model,
        "slider_input_to_img_load_ms (page clock)": summary(page_ms),
        "slider_input_to_new_src_ms (page clock: the answer arrived, image not yet fetched)": summary(src_ms),
        "fill_to_new_src_ms (python clock)": summary(py_ms),
        "preview_handler_ms (server)": summary(server_ms) if server_ms else None,
        "conditions": {"cpu_cores": os.cpu_count(), "load_average_1_5_15": load, "torch_threads": args.threads,
                       "machine": platform.machine(), "python": platform.python_version(),
                       "torch": torch.__version__, "chromium": CHROMIUM},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
