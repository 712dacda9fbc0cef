"""Start the genlab playground in your browser:  python launch_ui.py

Binds to 127.0.0.1 (this machine only) unless --host says otherwise; never
shares a public link unless --share. Needs no network at run time.
"""
from __future__ import annotations

import argparse
import os

# Before gradio / huggingface_hub are imported: no analytics, no telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _var in ("NO_PROXY", "no_proxy"):  # gradio checks its own server over HTTP at start-up
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var, ""), "127.0.0.1,localhost"]))


def main(argv=None) -> int:
    from genlab.paths import CHECKPOINT_DIR
    from genlab.checkpoint import RUNS_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 = all)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 = any free port)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs internet)")
    p.add_argument("--checkpoints", default=str(CHECKPOINT_DIR), help="folder of shipped checkpoints")
    p.add_argument("--runs", default=str(RUNS_DIR), help="folder of your training runs (runs/*/latest.pt)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: lowest latency for one small image at a time)")
    args = p.parse_args(argv)

    from ui.app import build_app, serve

    demo = build_app(args.checkpoints, args.runs, threads=args.threads if args.threads > 0 else None)
    serve(demo, host=args.host, port=args.port or None, share=args.share, block=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
