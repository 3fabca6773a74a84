# Source on the GPU machine: puts the carried wheels and the repository on PYTHONPATH.
# The GPU machine has torch, numpy, onnx, onnxruntime, typer, rich, safetensors, numba; wheels for anything
# else travel in .carry/whl (see DEVELOPERS.md).
if [ -d .carry/whl ] && ls .carry/whl/*.whl >/dev/null 2>&1 && [ ! -f /tmp/site/.done ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl \
    && touch /tmp/site/.done
fi
# The installed namespace without installing: hrm_sdk's own files plus the folders pyproject maps under it
# (exporters, solvers, serving, cli), as links in /tmp/pkg/hrm_sdk. PYTHONSAFEPATH keeps `python -m` from putting the
# repository itself first on sys.path, where its hrm_sdk folder (without the mapped ones) would win.
rm -rf /tmp/pkg && mkdir -p /tmp/pkg/hrm_sdk
for f in "$PWD"/hrm_sdk/*; do ln -s "$f" /tmp/pkg/hrm_sdk/; done
for d in exporters solvers serving cli; do ln -s "$PWD/$d" "/tmp/pkg/hrm_sdk/$d"; done
export PYTHONSAFEPATH=1
export PYTHONPATH="/tmp/site:/tmp/pkg:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# onnxruntime-gpu, when assembled from parts (DEVELOPERS.md), shadows the machine's CPU-only onnxruntime.
if [ -d /tmp/ort-site ]; then export PYTHONPATH="/tmp/ort-site:$PYTHONPATH"; fi
# NVLink multicast stays off on the multi-GPU machines (a program using it can take the host's shared GPUs out
# of service); the image sets these, and torchrun's workers inherit them from here too.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

# The finish scripts: stop the background training runs (each checkpoints on SIGTERM) and wait up to 2 minutes;
# the bracket keeps pkill from matching a shell whose command line holds a script's text.
stop_training() {
  local pat='[c]li\.main train'
  pkill -TERM -f "$pat"; for _ in $(seq 60); do pgrep -f "$pat" >/dev/null || break; sleep 2; done
}
latest_checkpoint() { echo "$1/checkpoints/$(cat "$1/checkpoints/latest")"; }
# The ARC finish scripts: stop the runs, then bundle RUN's newest checkpoint into DEST (fp16 + version table).
bundle_latest() {  # RUN DEST NAME
  stop_training
  local ckpt; ckpt=$(latest_checkpoint "$1")
  echo "$3: $ckpt"
  python3 -m scripts.bundle_model "$ckpt" "$2" 2>&1 | tail -n 2
}
