"""Data layer: layouts on disk → uniform index → clips/frames → augmented tensors.

Modules: `index` (Sample, Index, probing), `layouts` (readers of the official layouts),
`catalog` (dataset name in params → reader), `subsets` (label lists and Kinetics subsets),
`video` (decord clip reading), `transforms` (temporally consistent augmentation),
`datasets` (torch Datasets and the loader), `render` / `encode` / `synthetic` (the embedded
synthetic data). Import the module you need: this package imports nothing, so reading a
layout (`vi2clr tables` counts test items) never loads torch.
"""
