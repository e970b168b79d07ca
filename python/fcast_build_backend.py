"""The in-tree build backend behind `pip install .` (pyproject.toml): offline, standard library only.

It builds the CMake target fcast_python in the repository's build folder (FCAST_BUILD_DIR, default
build/; configured first when it has never been) and packs <build>/python/fcast into a wheel.
Nothing is downloaded: the build needs only what scripts/setup installs (cmake, a compiler,
pybind11-dev, python3-dev). The module is built for one interpreter (/usr/bin/python3 unless the
build was configured with -DPython3_EXECUTABLE=...); installing into another Python version fails
with a message instead of producing a wheel that cannot be imported.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.machinery
import os
import re
import subprocess
import sys
import sysconfig
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NAME = "fcast"


def _version():
    text = open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8").read()
    m = re.search(r"project\(fcast VERSION ([0-9.]+)", text)
    return m.group(1) if m else "0.0.0"


def _build_dir():
    return os.path.abspath(os.environ.get("FCAST_BUILD_DIR", os.path.join(ROOT, "build")))


def _build():
    build = _build_dir()
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"], check=True)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(min(os.cpu_count() or 2, 2)))
    subprocess.run(["cmake", "--build", build, "--target", "fcast_python", "-j", jobs], check=True)
    package = os.path.join(build, "python", NAME)
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    if not any(f.startswith("_fcast") and any(f.endswith(s) for s in suffixes) for f in os.listdir(package)):
        built = [f for f in os.listdir(package) if f.startswith("_fcast")]
        raise RuntimeError(f"{package} holds {built}, built for another Python than this one "
                           f"({sys.executable}, extension suffixes {suffixes}); configure the build with "
                           f"-DPython3_EXECUTABLE={sys.executable} or install with the interpreter it was built for")
    return package


def _tag():
    impl = f"cp{sys.version_info.major}{sys.version_info.minor}"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}-{impl}-{plat}"


def _metadata():
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            "Summary: The fcast forecasting engine (Toto, Kronos) from Python\n"
            "Requires-Dist: numpy\nRequires-Dist: pandas\n")


def _wheel_text(tag):
    return f"Wheel-Version: 1.0\nGenerator: fcast_build_backend\nRoot-Is-Purelib: false\nTag: {tag}\n"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = f"{NAME}-{_version()}.dist-info"
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(metadata_directory, info, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_text(_tag()))
    return info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    package = _build()
    tag = _tag()
    version = _version()
    info = f"{NAME}-{version}.dist-info"
    wheel = f"{NAME}-{version}-{tag}.whl"
    records = []

    def add(zf, arcname, data):
        zf.writestr(arcname, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        records.append(f"{arcname},sha256={digest},{len(data)}")

    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(os.listdir(package)):
            if name.endswith(".py") or name.startswith("_fcast"):
                with open(os.path.join(package, name), "rb") as f:
                    add(zf, f"{NAME}/{name}", f.read())
        add(zf, f"{info}/METADATA", _metadata().encode())
        add(zf, f"{info}/WHEEL", _wheel_text(tag).encode())
        records.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return wheel
