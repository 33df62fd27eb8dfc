"""One torch thread per test process: on a shared 2-core machine, OpenMP threads spinning against
other processes made a tiny training step ~4x slower than one thread (measured: 115 vs 530 img/s)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
