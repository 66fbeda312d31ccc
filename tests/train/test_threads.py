"""The thread policy: one intra-op and one inter-op thread unless asked otherwise."""

import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch

from aebnas.errors import UserError
from aebnas.train import configure_threads
from aebnas.train.threads import DEFAULT_THREADS, INTEROP_THREADS


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_is_the_policy_and_an_override_wins() -> None:
    assert configure_threads() == DEFAULT_THREADS == torch.get_num_threads() == 1
    assert configure_threads(2) == torch.get_num_threads() == 2
    assert configure_threads(None) == 1


def test_a_fresh_process_gets_the_policys_interop_threads() -> None:
    # In this pytest process torch has already started its inter-op pool; a CLI's has not.
    code = (
        "import torch; from aebnas.train import configure_threads; configure_threads(); "
        "print(torch.get_num_threads(), torch.get_num_interop_threads())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(DEFAULT_THREADS), str(INTEROP_THREADS)]


@pytest.mark.parametrize("bad", [0, -3])
def test_less_than_one_thread_is_a_user_error(bad: int) -> None:
    with pytest.raises(UserError, match="--threads must be at least 1"):
        configure_threads(bad)
