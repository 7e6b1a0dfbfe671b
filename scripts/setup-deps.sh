#!/usr/bin/env bash
# Install qsmrim's build and test dependencies from Debian 12 packages (idempotent: packages
# already present are skipped; nothing is downloaded when all are installed).
# Run as root, or with sudo available. CUDA/cuDNN are not installed here: the build uses them
# when found under /usr/local/cuda.
set -euo pipefail

PACKAGES=(
  # compilers and build
  build-essential cmake pkg-config
  # image I/O (ITK 5.2 with NIfTI, NRRD, MetaImage, GDCM/DICOM)
  libinsighttoolkit5-dev libgdcm-tools
  # model files, parameter files, compression, FFT (phantom physics), oneDNN (a layer benchmark's
  # comparator), plots; OpenBLAS is for the Python references (numpy, scikit-learn, PyTorch)
  libhdf5-dev libyaml-dev zlib1g-dev libfftw3-dev libopenblas-dev libdnnl-dev libssl-dev
  libcairo2-dev fonts-dejavu-core
  # review viewer
  libvtk9-qt-dev qtbase5-dev
  # tests: unit tests, XML schema check, headless display
  libcmocka-dev libxml2-utils xvfb xauth
  # reference implementations for tests and benchmarks (Debian's Python)
  python3 python3-numpy python3-scipy python3-h5py python3-nibabel python3-sklearn python3-torch
  python3-pywt python3-matplotlib
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-deps: installing ${#missing[@]} packages: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
