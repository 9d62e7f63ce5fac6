"""The layer as ``sam build`` makes it: ``make build-CoreLayer ARTIFACTS_DIR=...`` with real pip.

pip installs from its cache (and the machine's wheel directory), so this runs offline in a few
seconds. Two builds: the deploy target (arm64, CPython 3.13), checked for what it carries, and
one for this machine's interpreter, imported with the environment's botocore standing in for the
Lambda runtime's, which is how the layer runs on AWS.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER_SOURCE = ROOT / "layers" / "chatcore"
MAX_BYTES = 20_000_000


def _build(target: Path, *extra: str) -> Path:
    make = shutil.which("make")
    assert make, "make is needed to build the layer"
    done = subprocess.run(
        [
            make,
            "-s",
            "-C",
            str(LAYER_SOURCE),
            "build-CoreLayer",
            f"ARTIFACTS_DIR={target}",
            f"PIP={sys.executable} -m pip",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target / "python"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def arm64_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("layer-arm64"))


def test_layer_carries_no_aws_sdk_of_its_own(arm64_layer: Path) -> None:
    top = {p.name.split("-")[0].lower() for p in arm64_layer.iterdir()}
    assert not top & {"boto3", "botocore", "s3transfer"}
    # What it does carry: the core, Powertools, PyJWT with cryptography, the X-Ray SDK for Tracer.
    assert {"chatcore", "aws_lambda_powertools", "jwt", "cryptography", "aws_xray_sdk"} <= top


def test_layer_fits_its_size_budget(arm64_layer: Path) -> None:
    assert _size(arm64_layer) <= MAX_BYTES


def test_layer_is_built_for_arm64_and_the_templates_python(arm64_layer: Path) -> None:
    extensions = [p.name for p in arm64_layer.rglob("*.so")]
    assert extensions
    for name in extensions:
        assert "aarch64" in name or name.endswith(".abi3.so"), name
        assert "x86_64" not in name
    versioned = [n for n in extensions if "cpython-" in n]
    assert versioned and all("cpython-313" in n for n in versioned)
    assert not list(arm64_layer.rglob("__pycache__"))


def test_build_refuses_a_layer_with_botocore_in_it(tmp_path: Path) -> None:
    (tmp_path / "python" / "botocore").mkdir(parents=True)
    make = shutil.which("make")
    assert make
    done = subprocess.run(
        [make, "-s", "-C", str(LAYER_SOURCE), "check-CoreLayer", f"ARTIFACTS_DIR={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "botocore is in the layer" in done.stderr


_PROBE = """
import json, sys
import app
import aws_lambda_powertools, botocore, jwt
from chatcore import clients, observability
clients.dynamodb()
print(json.dumps({
    "powertools": aws_lambda_powertools.__file__,
    "jwt": jwt.__file__,
    "botocore": botocore.__file__,
    "tracer": type(observability.tracer).__name__,
}))
"""


def test_layer_runs_with_the_runtimes_botocore(tmp_path: Path) -> None:
    # Built for this interpreter so that its compiled modules load here.
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    layer = _build(
        tmp_path,
        "PIP_PLATFORM=manylinux2014_x86_64",
        f"PIP_PYTHON_VERSION={version}",
    )
    import botocore

    runtime = Path(botocore.__file__).resolve().parents[1]  # stands in for /var/runtime
    code_dir = ROOT / "functions" / "connect"
    # The path Lambda builds: the function's code, the layer, then the runtime's own packages.
    path = [str(code_dir), str(layer)]
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = {path!r}\n" + _PROBE],
        cwd=code_dir,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": "",
            "AWS_DEFAULT_REGION": "us-east-1",
            # Active tracing: Tracer must import the layer's X-Ray SDK over the runtime botocore.
            "AWS_LAMBDA_FUNCTION_NAME": "chat-connect",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["powertools"].startswith(str(layer))
    assert found["jwt"].startswith(str(layer))
    assert Path(found["botocore"]).resolve().is_relative_to(runtime)
    assert found["tracer"] == "Tracer"
