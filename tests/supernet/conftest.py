"""Shared pieces of the supernet tests: a tiny space that trains in seconds on digits."""

from __future__ import annotations

import pytest

from aebnas.data import Dataset, load_dataset
from aebnas.space import BackboneSpec, BranchSpace, SearchSpace

TINY = SearchSpace(
    name="tiny",
    backbone=BackboneSpec(
        stem_channels=8,
        stage_widths=(8, 16, 16, 24, 24),
        depths=(1, 2),
        kernels=(3, 5),
        expansions=(2, 3),
        head_channels=(32, 32),
    ),
    branch=BranchSpace(
        depths=(1, 2), ops=("conv", "dw"), kernels=(3, 5), widths=(1, 2), resizes=(8,),
        pools=("none", "max", "avg"),
    ),
    resolutions=(16, 20),
)


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")
