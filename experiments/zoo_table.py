"""Print the shipped checkpoints' stored figures as a Markdown table (for the README).

    python experiments/zoo_table.py
"""
from genlab.registry import shipped_checkpoints
from genlab.checkpoint import load_checkpoint


def fmt(metrics: dict, key: str, digits: int = 1) -> str:
    v = metrics.get(key)
    return "" if v is None else f"{v:.{digits}f}"


def main():
    print("| checkpoint | family | data | steps | train min | FID (floor) | precision / recall | class coverage | test NLL nats (bits/dim) | MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, path in shipped_checkpoints().items():
        s = load_checkpoint(path)
        m = s.get("metrics", {})
        fid = f"{fmt(m, 'fid')} ({fmt(m, 'fid_floor')})" if "fid" in m else ""
        pr = f"{fmt(m, 'precision', 2)} / {fmt(m, 'recall', 2)}" if "precision" in m else ""
        nll = ""
        if "nll_nats" in m:
            bound = "" if m.get("nll_exact", True) else "<= "
            nll = f"{bound}{fmt(m, 'nll_nats', 2)} ({fmt(m, 'nll_bits_per_dim', 4)})"
        minutes = s.get("train_seconds", 0) / 60
        print(f"| {name} | {s['family']} | {s['data_spec'].get('name')} | {s['step']} | {minutes:.0f} | {fid} | {pr} | "
              f"{fmt(m, 'class_coverage', 1)} | {nll} | {path.stat().st_size / 1e6:.2f} |")


if __name__ == "__main__":
    main()
