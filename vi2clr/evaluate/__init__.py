"""Evaluation protocols of the paper's Tables 1-7: pure metrics, feature extraction with an
on-disk cache, VOC07 SVMs (full and few-shot), retrieval, linear probe and fine-tuning.

Every protocol is one function with plain arguments returning a dict; metric names live in
`metric_names`, the loader batch formats in `batches`. Import the submodule you need: this
package imports nothing, so `vi2clr tables` (which reads `cells` and `metric_names`) never loads torch.
"""
