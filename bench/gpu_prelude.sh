# Sourced by the GPU scripts (gpu_checks.sh, gpu_smoke.sh, gpu_training_runs.sh) from the repo root:
# installs the Python packages the GPU image lacks, carried as wheels in .whl/, and sets the
# environment every GPU run shares (unbuffered output; JAX, used by SMAX, on the CPU).
# The wheels for the image's Python 3.12, fetched on a machine with pip access:
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl sacred==0.8.7 docopt-ng==0.9.0 \
#     GitPython==3.2.1 gitdb==4.0.12 smmap==5.0.3 jsonpickle==4.1.4 munch==4.0.0 pydantic==2.13.4 \
#     pydantic_core==2.46.4 annotated-types==0.8.0 typing-inspection==0.4.5 jaxmarl==0.2.0 gymnax==1.0.1 \
#     gymnasium==1.3.0 Farama-Notifications==0.0.6
# Ray is not among them (its wheel is larger than a device call may carry): GPU runs set
# reanalyse_workers=0.
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 JAX_PLATFORMS=cpu
