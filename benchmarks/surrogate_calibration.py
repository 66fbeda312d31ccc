"""Calibration of the search surrogates with only a few full-fidelity results.

    nice -n 10 .venv/bin/python benchmarks/surrogate_calibration.py [--config C] [--full A] \\
        [--sizes 3,5,8] [--draws 15]

The search's surrogates are the config's low-fidelity prior (``search.predictors``) plus a GP
residual model fit on the run's full-fidelity rows (``search.surrogates.fit_surrogates``).
For each size n, ``--draws`` random subsets of n records of the full-fidelity archive ``--full``
train them and the other records are predicted; printed per target: the share of held-out
values inside the 90% predictive interval (mean ± 1.645 std; 0.90 when calibrated) and the RMS
of the standardised errors (1 when calibrated), once as shipped and once without the small-sample
widening of :mod:`aebnas.predictors.prior` (``CALIBRATION_ROWS = 0``).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

import aebnas.predictors.prior as prior_module
from aebnas.archive import read_archive
from aebnas.config import load_config
from aebnas.search.loop import start
from aebnas.search.surrogates import TARGETS, TrainingSet, fit_surrogates, training_set

Z90 = 1.645


def standardised_errors(
    data: TrainingSet, prior: dict, space: object, n: int, draws: int
) -> list[np.ndarray]:
    """Per target, ``(y - mean) / std`` of held-out rows over ``draws`` random n-row fits."""
    rng = np.random.default_rng(0)
    errors: list[list[float]] = [[] for _ in TARGETS]
    for draw in range(draws):
        order = rng.permutation(len(data))
        train, test = order[:n], order[n:]
        subset = TrainingSet([data.archs[i] for i in train], data.X[train], data.Y[train])
        surrogates = fit_surrogates("gp", subset, prior, space, draw)  # type: ignore[arg-type]
        assert surrogates is not None
        means, stds = surrogates.predict(data.X[test])
        for j in range(len(TARGETS)):
            errors[j].extend(((data.Y[test, j] - means[:, j]) / stds[:, j]).tolist())
    return [np.array(e) for e in errors]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/fashion-mnist.yaml")
    parser.add_argument("--full", default="data/surrogates/fashion-mnist-aebnas-plus-full.jsonl")
    parser.add_argument("--sizes", default="3,5,8")
    parser.add_argument("--draws", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:  # the search setup: problem, costs and prior
        setup, _ = start(load_config(args.config), Path(tmp) / "run", None)
    prior = setup.prior()
    assert prior is not None, "the config names no low-fidelity prior (search.predictors)"
    data = training_set(read_archive(args.full)[1], setup.problem, setup.costs)
    print(f"{len(data)} full-fidelity records of {args.full}; prior from {args.config}")
    print(f"{'rows':>4} {'target':>9} {'widening':>9} {'in 90% interval':>16} {'RMS z':>7}")
    shipped = prior_module.CALIBRATION_ROWS
    for n in (int(s) for s in args.sizes.split(",")):
        for widening in (False, True):
            prior_module.CALIBRATION_ROWS = shipped if widening else 0
            errors = standardised_errors(data, prior, setup.costs.space, n, args.draws)
            for target, z in zip(TARGETS, errors, strict=True):
                inside = float(np.mean(np.abs(z) < Z90))
                rms = float(np.sqrt(np.mean(z**2)))
                shown = "yes" if widening else "no"
                print(f"{n:>4} {target:>9} {shown:>9} {inside:>16.2f} {rms:>7.2f}")
    prior_module.CALIBRATION_ROWS = shipped


if __name__ == "__main__":
    main()
