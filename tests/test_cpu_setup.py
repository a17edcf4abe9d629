"""The CPU run settings: thread count and glibc's allocator thresholds."""
import platform

import pytest
import torch

from correlation_trainer.cpu_setup import configure_cpu, keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is a glibc function")
def test_allocator_thresholds_apply_on_glibc():
    assert keep_freed_memory()


def test_configure_cpu_sets_the_thread_count():
    before = torch.get_num_threads()
    try:
        configure_cpu(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
