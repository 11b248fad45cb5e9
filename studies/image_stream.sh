#!/usr/bin/env bash
# A 2D-stream variant of the pretraining recipe, read out with the image-linear protocol
# (docs/learning.md, "The image stream at the CPU default's budget").
#
#   studies/image_stream.sh VAL_ROOT WORK NAME [-S key=value ...]
#
# Pretrains the `full` row with this project's params.yaml plus the -S overrides, one run per seed of
# seeds.pretrain side by side (`vi2clr seeds`), on the Kinetics layout under VAL_ROOT, into
# WORK/NAME/seed<S>; then runs `vi2clr eval image-linear` (eval seed = pretraining seed; the
# pipeline's suites keep eval.seed 0 for every pretraining seed, so compare its numbers with these
# only per that convention: docs/learning.md, "The learning scale") on the
# ImageNet layout under VAL_ROOT and prints one top-1 per seed. NAME=random reads out random
# initialisations with the same seeds instead. Use a *validation* family as VAL_ROOT (written by
# `vi2clr data synth -S data.synth.family=validation ...` and indexed by `vi2clr data index`),
# never the data of the tables. MLflow store: WORK/mlflow.db.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 VAL_ROOT WORK NAME [-S key=value ...]" >&2; exit 2; }
params=$(realpath "$(dirname "$0")/../params.yaml")
val=$(realpath "$1"); work=$2; name=$3; shift 3
mkdir -p "$work" && cd "$work" && work=$(pwd)
export MLFLOW_TRACKING_URI="sqlite:///$work/mlflow.db"
data=(-p "$params" -S data.kinetics400.root="$val/kinetics400" -S data.ucf101.root="$val/ucf101"
      -S data.hmdb51.root="$val/hmdb51" -S data.imagenet.root="$val/imagenet"
      -S data.voc2007.root="$val/voc2007" -S data.index_dir="$val/index")
if [ "$name" != random ]; then
  vi2clr seeds -p "$params" --of pretrain -- pretrain "${data[@]}" -S "pretrain.seed={seed}" \
    -S "pretrain.out_dir=$work/$name/seed{seed}" -S pretrain.progress=false -S tracking.log_models=false \
    -S "pretrain.keep_epochs=[]" "$@" > "$work/$name.pretrain.log" 2>&1
fi
seeds=$(python -c "from vi2clr.config import load_params; print(*load_params('$params').seeds.pretrain)")
for s in $seeds; do
  if [ "$name" = random ]; then enc=(--random-init); else enc=(--encoders "$work/$name/seed$s"); fi
  top1=$(vi2clr eval image-linear "${enc[@]}" "${data[@]}" -S eval.seed="$s" -S eval.out_dir="$work/eval/$name$s" \
         -S eval.feature_cache="$work/features" "$@" 2>&1 | grep -o "image_linear/top1=[0-9.]*")
  echo "$name seed $s $top1"
done
