"""The CenterNCE concentration study (docs/learning.md): which φ should the default use?

For every data family (the embedded default and the validation-only family, generated here with
its own seed), every concentration variant (``pretrain.clustering.concentration``) and every seed,
one pretraining with the default params of ``params.yaml`` (only the data root, the variant, the
seed and the output folder change). Readouts come from the pretraining itself, on the Kinetics
*validation* split (never a test split): the frozen k-NN learning curve (``curve/*``), the
cluster NMI against the motion / appearance labels and the CenterNCE diagnostics, per epoch.

Prints and writes (``--out``, default ``reports/study``) mean ± 95 % t-interval over seeds per
(family, variant) at the last epoch, and the curves per epoch (mean over seeds). Run from the
project root:

    python studies/concentration.py --seeds 0 1 2            # ~20 min on 2 CPU cores
    python studies/concentration.py --families validation --variants pcl shared pcl_bounded --bound 1.25 1.1
                     # pcl_bounded once per r (labelled pcl_bounded_r1.25, ...), each against `shared`

Below the table, each variant against ``shared`` (the CPU default) per readout: the Welch difference
with its 95 % interval and two-sided p (`vi2clr.statistics.welch`), Holm over the four downstream
readouts (the two k-NN probes and the two NMIs) of that variant.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = ("pcl", "shared", "pcl_bounded")
FAMILIES = {"default": {}, "validation": {"data.synth.family": "validation"}}
DOWNSTREAM = ("curve/video_motion_knn", "curve/image_appearance_knn", "cluster/motion_nmi", "cluster/appearance_nmi")
READOUTS = (*DOWNSTREAM, "cluster/center_top1", "cluster/center_loss_over_logk", "cluster/phi_max_over_min",
            "epoch/loss_center")


def synth(root: Path, extra: dict[str, str]) -> None:
    """The family's data under ``root`` (skipped when already written)."""
    if (root / "kinetics400").exists():
        return
    sets = [f"data.synth.root={root}", *(f"{k}={v}" for k, v in extra.items())]
    cmd = [str(Path(sys.executable).with_name("vi2clr")), "data", "synth"] + [a for s in sets for a in ("-S", s)]
    subprocess.run(cmd, check=True)


def variant_label(variant: str, bound: float | None) -> str:
    """``pcl_bounded`` with its r (``pcl_bounded_r1.25``) when ``--bound`` is given; else the variant."""
    return f"{variant}_r{bound:g}" if variant == "pcl_bounded" and bound is not None else variant


def pretrain(family_root: Path, variant: str, seed: int, out: Path, bound: float | None = None) -> dict[str, float]:
    """One default pretraining on ``family_root`` with φ = ``variant`` (and ``concentration_bound`` =
    ``bound`` when given); returns its final metrics."""
    from vi2clr.cli import use_threads
    from vi2clr.config import load_params
    from vi2clr.train.outputs import report_dir
    from vi2clr.train.pretrain import run_pretrain

    if (out / "done.json").exists():
        return json.loads((out / "done.json").read_text())
    p = load_params("params.yaml", [
        f"data.kinetics400.root={family_root / 'kinetics400'}", f"pretrain.clustering.concentration={variant}",
        f"pretrain.seed={seed}", f"pretrain.out_dir={out}", "pretrain.progress=false", "tracking.log_models=false",
        "pretrain.tags={study: concentration}",
        *([f"pretrain.clustering.concentration_bound={bound}"] if bound is not None else [])])
    use_threads(p)  # compute.threads, as `vi2clr pretrain` does: the same weights as the pipeline's runs
    run_pretrain(p, restart=True)
    reports = report_dir(p)
    history = list(csv.DictReader(open(reports / "history.csv")))
    final = json.loads((reports / "metrics.json").read_text())
    result = {"final": final, "history": history}
    (out / "done.json").write_text(json.dumps(result))
    return result


def summarise(results: dict[tuple[str, str, int], dict], out: Path) -> str:
    from vi2clr.statistics import t_interval

    lines = ["| family | φ | " + " | ".join(r.split("/")[-1] for r in READOUTS) + " |",
             "|---|---|" + "---|" * len(READOUTS)]
    rows = []
    variants = list(dict.fromkeys(var for _, var, _ in results))  # as run: pcl_bounded may carry its r
    for family in FAMILIES:
        for variant in variants:
            runs = [v for (f, var, _), v in results.items() if f == family and var == variant]
            if not runs:
                continue
            cells = []
            for key in READOUTS:
                values = [r["final"][key] for r in runs if r["final"].get(key) is not None]
                if not values:
                    cells.append("—")
                    continue
                iv = t_interval(values)
                cells.append(f"{iv.mean:.3f} ± {(iv.high - iv.mean) if iv.high is not None else float('nan'):.3f}")
                rows.append({"family": family, "variant": variant, "readout": key, "mean": iv.mean,
                             "low": iv.low, "high": iv.high, "n": iv.n})
            lines.append(f"| {family} | {variant} | " + " | ".join(cells) + f" |  (n={len(runs)})")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "concentration.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["family", "variant", "readout", "mean", "low", "high", "n"])
        w.writeheader()
        w.writerows(rows)
    # per-epoch curves, mean over seeds
    curve_lines = ["| family | φ | epoch | probe video | probe image | NMI motion | L_C |", "|---|---|---|---|---|---|---|"]
    for family in FAMILIES:
        for variant in variants:
            runs = [v for (f, var, _), v in results.items() if f == family and var == variant]
            if not runs:
                continue
            for e in range(len(runs[0]["history"])):
                def mean(col: str, e: int = e, runs: list = runs) -> str:  # bind this epoch's values
                    vals = [float(r["history"][e][col]) for r in runs if r["history"][e].get(col) not in ("", None)]
                    vals = [v for v in vals if v == v]
                    return f"{sum(vals) / len(vals):.3f}" if vals else "—"
                curve_lines.append(f"| {family} | {variant} | {e + 1} | {mean('probe_video')} | {mean('probe_image')} "
                                   f"| {mean('nmi_motion')} | {mean('loss_center')} |")
    text = "\n".join(lines + [""] + against_shared(results)) + "\n\nPer epoch (mean over seeds):\n\n" + "\n".join(curve_lines) + "\n"
    (out / "concentration.md").write_text(text)
    return text


def against_shared(results: dict[tuple[str, str, int], dict]) -> list[str]:
    """Every variant − ``shared`` per readout: Welch difference [95 %], p (Holm over DOWNSTREAM)."""
    from compare_runs import welch_interval  # this script's folder is on sys.path when run as a script

    from vi2clr.statistics import holm_adjust, welch

    def values(family: str, variant: str, key: str) -> list[float]:
        return [v["final"][key] for (f, var, _), v in sorted(results.items())
                if f == family and var == variant and v["final"].get(key) is not None]

    lines = ["| family | φ − shared | " + " | ".join(r.split("/")[-1] for r in READOUTS) + " |",
             "|---|---|" + "---|" * len(READOUTS)]
    for family in FAMILIES:
        variants = [var for var in dict.fromkeys(var for f, var, _ in results if f == family) if var != "shared"]
        if not values(family, "shared", READOUTS[0]):
            continue
        for variant in variants:
            pairs = {key: (values(family, variant, key), values(family, "shared", key)) for key in READOUTS}
            pairs = {key: (a, b) for key, (a, b) in pairs.items() if len(a) > 1 and len(b) > 1}
            tests = {key: welch(a, b) for key, (a, b) in pairs.items()}
            adjusted = dict(zip(DOWNSTREAM, holm_adjust([tests[k] for k in DOWNSTREAM]))) \
                if all(k in tests for k in DOWNSTREAM) else {}
            cells = []
            for key in READOUTS:
                c = tests.get(key)
                if c is None:
                    cells.append("—")
                    continue
                low, high = welch_interval(*pairs[key]) if len(set(pairs[key][0] + pairs[key][1])) > 1 else (c.diff, c.diff)
                holm = f", Holm {adjusted[key].p_adjusted:.2f}" if key in adjusted else ""
                cells.append(f"{c.diff:+.3f} [{low:+.3f}, {high:+.3f}] p {c.p_value:.2f}{holm}")
            lines.append(f"| {family} | {variant} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--data", type=Path, default=Path("data/study"))
    ap.add_argument("--out", type=Path, default=Path("docs/study"))
    ap.add_argument("--bound", type=float, nargs="+", default=[None],
                    help="pretrain.clustering.concentration_bound r of pcl_bounded, one run set per r "
                         "(default: params.yaml's)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = {}
    for family in args.families:
        root = args.data / family
        synth(root, FAMILIES[family])
        for variant, bound in [(v, b) for v in args.variants for b in (args.bound if v == "pcl_bounded" else [None])]:
            label = variant_label(variant, bound)
            for seed in args.seeds:
                t0 = time.perf_counter()
                out = Path("runs/study") / f"{family}-{label}-seed{seed}"
                results[(family, label, seed)] = pretrain(root, variant, seed, out, bound)
                print(f"{family} {label} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(summarise(results, args.out))


if __name__ == "__main__":
    main()
