"""Data layer: layouts on disk → uniform index → clips/frames → augmented tensors.

Modules: `index` (Sample, Index, probing), `layouts` (readers of the official layouts),
`catalog` (dataset name in params → reader), `subsets` (label lists and Kinetics subsets),
`video` (decord clip reading), `transforms` (temporally consistent augmentation),
`datasets` (torch Datasets and the loader), `render` / `encode` / `synthetic` (the embedded
synthetic data).
"""

from vi2clr.data.index import Index, LayoutError, Sample
from vi2clr.data.layouts import read_hmdb51, read_imagenet, read_kinetics400, read_ucf101, read_voc2007
from vi2clr.data.subsets import make_kinetics_subset, make_semisup_subset, write_subset_list
from vi2clr.data.video import VideoDecodeError, read_clip

__all__ = [
    "Index",
    "LayoutError",
    "Sample",
    "VideoDecodeError",
    "make_kinetics_subset",
    "make_semisup_subset",
    "read_clip",
    "read_hmdb51",
    "read_imagenet",
    "read_kinetics400",
    "read_ucf101",
    "read_voc2007",
    "write_subset_list",
]
