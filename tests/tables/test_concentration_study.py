"""studies/concentration.py: runs labelled by their bound, each variant against `shared` by Welch + Holm."""

import json
import subprocess
import sys
from pathlib import Path

from scipy import stats

REPO = Path(__file__).resolve().parents[2]
READOUTS = ("curve/video_motion_knn", "curve/image_appearance_knn", "cluster/motion_nmi", "cluster/appearance_nmi",
            "cluster/center_top1", "cluster/center_loss_over_logk", "cluster/phi_max_over_min", "epoch/loss_center")


def _done(root: Path, label: str, seed: int, values: dict[str, float]) -> None:
    """A finished study run (its done.json), so the script reads it instead of pretraining."""
    out = root / "runs" / "study" / f"validation-{label}-seed{seed}"
    out.mkdir(parents=True)
    (out / "done.json").write_text(json.dumps({"final": values, "history": [{"probe_video": "0.2"}]}))


def test_bounds_are_labelled_and_compared_with_shared(tmp_path):
    (tmp_path / "data" / "validation" / "kinetics400").mkdir(parents=True)  # the family's data "exists"
    top1 = {"shared": [0.86, 0.87, 0.88], "pcl_bounded_r1.1": [0.40, 0.45, 0.50], "pcl_bounded_r1.25": [0.2, 0.3, 0.4]}
    motion = {"shared": [0.20, 0.25, 0.21], "pcl_bounded_r1.1": [0.24, 0.23, 0.26], "pcl_bounded_r1.25": [0.2, 0.2, 0.3]}
    for label in top1:
        for seed in range(3):
            values = {key: 0.1 + 0.01 * seed for key in READOUTS}
            values["cluster/center_top1"] = top1[label][seed]
            values["curve/video_motion_knn"] = motion[label][seed]
            _done(tmp_path, label, seed, values)
    out = subprocess.run([sys.executable, str(REPO / "studies" / "concentration.py"), "--families", "validation",
                          "--variants", "shared", "pcl_bounded", "--bound", "1.1", "1.25", "--data", "data",
                          "--out", "out"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "validation pcl_bounded_r1.1 seed 2" in out and "validation pcl_bounded_r1.25 seed 0" in out
    rows = {line.split("|")[2].strip(): line.split("|")[3:-1] for line in out.splitlines()
            if line.startswith("| validation | pcl_bounded_r1.1 |") and "[" in line}
    cells = rows["pcl_bounded_r1.1"]
    # own-centroid top-1: Welch against shared, no Holm (not a downstream readout)
    welch = stats.ttest_ind(top1["pcl_bounded_r1.1"], top1["shared"], equal_var=False)
    diff = sum(top1["pcl_bounded_r1.1"]) / 3 - sum(top1["shared"]) / 3
    half = stats.t.ppf(0.975, welch.df) * (stats.tvar(top1["pcl_bounded_r1.1"]) / 3 + stats.tvar(top1["shared"]) / 3) ** 0.5
    assert cells[READOUTS.index("cluster/center_top1")].strip() == \
        f"{diff:+.3f} [{diff - half:+.3f}, {diff + half:+.3f}] p {welch.pvalue:.2f}"
    # the motion probe is one of four downstream readouts: Holm over them (the other three are equal: p = 1)
    p = stats.ttest_ind(motion["pcl_bounded_r1.1"], motion["shared"], equal_var=False).pvalue
    assert cells[READOUTS.index("curve/video_motion_knn")].strip().endswith(f"p {p:.2f}, Holm {min(1.0, 4 * p):.2f}")
    assert "| validation | shared |" in (tmp_path / "out" / "concentration.md").read_text()
