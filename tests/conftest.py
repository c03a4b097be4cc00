"""Shared fixtures: the real lm-eval task manager over our task_configs, and run helpers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def task_manager():
    """lm-eval's own TaskManager over our task_configs only (indexing lm-eval's ~27k task YAMLs too
    would cost seconds per worker, and no test using it runs a standard task)."""
    from lm_eval.tasks import TaskManager

    import mmpriv_tasks  # noqa: F401  (registers our models)
    from mmpriv_tasks.paths import task_configs_dir

    return TaskManager(include_path=str(task_configs_dir()), include_defaults=False)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600):
    """Run a console command in a subprocess (the real CLI path), returning CompletedProcess."""
    return subprocess.run(list(args), cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def venv_bin(name: str) -> str:
    """A console script installed next to the running interpreter."""
    return str(Path(sys.executable).parent / name)


def png_bytes(color: str = "white") -> bytes:
    """An 8x8 RGB PNG of one colour."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(samples: int = 1600) -> bytes:
    """A 16 kHz mono WAV of a constant, non-silent signal."""
    import numpy as np

    from mmpriv_tasks.inputs.media import encode_wav

    return encode_wav(np.zeros(samples, dtype=np.float32) + 0.1)
