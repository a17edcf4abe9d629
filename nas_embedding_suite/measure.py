"""Measuring the inference latency of architectures on the machine at hand.

Protocol (recorded in the header of every device file):

- the network of the architecture (the space's ``build_network``, spec section 2; NB201: CIFAR-10
  network, FBNet: the HW-NAS-Bench CIFAR-100 network), freshly built with PyTorch's default initialisation, in
  ``model.eval()`` and under ``torch.inference_mode()``, float32;
- input: a fixed random batch of ``batch_size`` x 3 x 32 x 32 (both spaces use 32x32 inputs);
- ``torch.set_num_threads(threads)`` for the whole run (CPU);
- ``warmup`` untimed forward passes, then ``repeats`` timed ones, each timed on its own with
  ``time.perf_counter``; on CUDA, ``torch.cuda.synchronize()`` before starting and before stopping
  the clock;
- the latency is the median of the timed passes, in milliseconds.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from .device_file import DeviceFileWriter, MeasuredDevice, read_device_file
from .errors import NasflatError

INPUT_SIZE = (3, 32, 32)


@dataclass(frozen=True)
class MeasureProtocol:
    """How each architecture is timed (see the module docstring)."""

    batch_size: int = 1
    threads: int = 1
    warmup: int = 10
    repeats: int = 30
    torch_device: str = "cpu"

    def check(self) -> None:
        """One-line errors for impossible settings, and for CUDA without CUDA."""
        for name, minimum in (("batch_size", 1), ("threads", 1), ("warmup", 0), ("repeats", 1)):
            if getattr(self, name) < minimum:
                raise NasflatError(f"--{name.replace('_', '-')} must be at least {minimum}")
        if self.torch_device.startswith("cuda") and not torch.cuda.is_available():
            raise NasflatError(
                f"--torch-device {self.torch_device} was asked for, but torch sees no CUDA device"
            )
        try:
            torch.device(self.torch_device)
        except RuntimeError:
            raise NasflatError(f"unknown torch device '{self.torch_device}'; use cpu or cuda") from None

    def describe(self) -> Dict[str, object]:
        """The protocol as recorded in a device file."""
        return {
            **asdict(self),
            "input_shape": [self.batch_size, *INPUT_SIZE],
            "dtype": "float32",
            "mode": "model.eval() + torch.inference_mode()",
            "timer": "time.perf_counter per forward pass"
                     + (", torch.cuda.synchronize() before start and stop" if self.is_cuda else ""),
            "statistic": "median",
        }

    @property
    def is_cuda(self) -> bool:
        return self.torch_device.startswith("cuda")


def machine_description(torch_device: str = "cpu") -> str:
    """CPU model and count (or GPU name), OS and architecture of this machine."""
    if torch_device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(torch_device))}, {platform.platform()}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} logical CPUs), {platform.platform()}"


def build_network(space, index: int) -> torch.nn.Module:
    """The PyTorch network of architecture ``index`` of ``space`` (its ``build_network``)."""
    return space.build_network(index)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Use ``count`` torch CPU threads inside the block, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def time_network(model: torch.nn.Module, protocol: MeasureProtocol, inputs: torch.Tensor) -> float:
    """Median latency (ms) of ``model`` on ``inputs`` under ``protocol``."""
    device = torch.device(protocol.torch_device)
    model = model.to(device).eval()
    inputs = inputs.to(device)
    sync = torch.cuda.synchronize if protocol.is_cuda else (lambda: None)
    times = []
    with torch.inference_mode():
        for _ in range(protocol.warmup):
            model(inputs)
        sync()
        for _ in range(protocol.repeats):
            start = time.perf_counter()
            model(inputs)
            sync()
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def device_file_metadata(space, device_name: str, protocol: MeasureProtocol) -> Dict[str, str]:
    """The header of a new device file."""
    return {
        "space": space.name,
        "device": device_name,
        "protocol": json.dumps(protocol.describe(), sort_keys=True),
        "machine": machine_description(protocol.torch_device),
        "torch": torch.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def measure_archs(
    space,
    indices: Sequence[int],
    path: Path,
    device_name: str,
    protocol: MeasureProtocol = MeasureProtocol(),
    show_progress: bool = True,
    on_row: Optional[Callable[[int, float], None]] = None,
) -> MeasuredDevice:
    """Measure the architectures ``indices`` of ``space`` and append them to the device file ``path``.

    Architectures already in the file are skipped, so rerunning an interrupted command resumes it.
    ``on_row(index, ms)`` is called after each row is written. Returns the whole file's content.
    """
    protocol.check()
    indices = [space.check_index(i) for i in indices]
    if len(set(indices)) != len(indices):
        seen = set()
        twice = next(i for i in indices if i in seen or seen.add(i))
        raise NasflatError(f"architecture {twice} is listed twice; give each architecture once")
    metadata = device_file_metadata(space, device_name, protocol)
    inputs = torch.randn(protocol.batch_size, *INPUT_SIZE, generator=torch.Generator().manual_seed(0))
    with DeviceFileWriter(path, space, metadata, compare=("space", "protocol")) as writer, \
            torch_threads(protocol.threads):
        todo = [i for i in indices if i not in writer.done]
        if len(todo) < len(indices):
            print(f"{len(indices) - len(todo)} of {len(indices)} architectures already in {path}; "
                  f"measuring the other {len(todo)}")
        for index in tqdm(todo, desc=f"measuring {space.name} on {device_name}", unit="arch",
                          disable=not show_progress):
            latency = time_network(build_network(space, index), protocol, inputs)
            writer.append(index, latency)
            if on_row is not None:
                on_row(index, latency)
    return read_device_file(path, space)


def summarise(device: MeasuredDevice, indices: Sequence[int]) -> str:
    """One line: how many of ``indices`` the file holds and their median latency."""
    wanted = np.isin(device.indices, np.asarray(indices, dtype=np.int64))
    return (f"{device.path}: {int(wanted.sum())} of {len(indices)} requested architectures measured "
            f"({len(device.indices)} rows in all), median {np.median(device.latency_ms[wanted]):.3f} ms")
