"""Where timings were measured: device name, driver, torch and CUDA versions (imports torch only)."""

from __future__ import annotations

import os
import platform
import subprocess

import torch


def gpu_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi, or None."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0] if out.returncode == 0 and lines else None


def environment(device: str) -> dict:
    """Device, driver, torch and CUDA versions, CPU and thread count."""
    info: dict = {
        "device": device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device == "cuda":
        info["device_name"] = torch.cuda.get_device_name(0)
        info["driver"] = gpu_driver()
    else:
        info["device_name"] = info["cpu"]
    return info
