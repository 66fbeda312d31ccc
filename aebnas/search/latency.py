"""Records read at the latency objective: thresholds re-tuned with per-exit latency costs.

A record's thresholds were tuned for MACs when it was trained; at ``--objective latency`` its
operating point is tuned again, from its saved validation outcomes (``record["outcomes"]``), with
the per-exit batch-1 latency of :func:`aebnas.costs.latency.latency_costs` in place of the MAC
costs: same tuner, same modes (budget: average ms <= cap; target: the reference score around
the target; open: budget = the final exit's latency), then the operating point of
:func:`aebnas.thresholds.operating_point` (the cheapest point within the accuracy tolerance).
Results are memoised per record; pieces missing from the profile are measured and the profile
file is updated.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aebnas.archive.outcomes import unpack_outcomes
from aebnas.costs.latency import LatencyProfile, latency_costs, load_profile
from aebnas.errors import UserError
from aebnas.space import SearchSpace, parse_architecture
from aebnas.thresholds import operating_point, tune
from aebnas.thresholds.outcomes import ExitOutcomes, Objective


class RecordLatency:
    """Operating points of records at the latency objective (see the module docstring).

    Args:
        profile_path: The host's latency profile (JSON).
        space: The search space (records' architectures are parsed in it).
        in_channels: Image channels of the dataset.
        num_classes: Classes of the dataset.
        tuner: Threshold tuner name (``thresholds.tuner``).
        rows: Records whose saved outcomes stand in for records that dropped them (benchmark
            rows, by architecture).
    """

    def __init__(
        self,
        profile_path: str | Path,
        space: SearchSpace,
        in_channels: int,
        num_classes: int,
        tuner: str = "optimal",
        rows: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.profile_path = Path(profile_path)
        self.profile: LatencyProfile = load_profile(self.profile_path)
        self.space = space
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.tuner = tuner
        self.saved = {r["arch"]: r["outcomes"] for r in rows if r.get("outcomes")}
        self._memo: dict[tuple[Any, ...], tuple[float, float, list[float | None] | None]] = {}

    def costs(self, arch_text: str) -> Any:
        """Per-exit latency (ms, :class:`~aebnas.costs.macs.ExitCosts`) of an architecture."""
        arch = parse_architecture(arch_text, self.space)
        before = len(self.profile.entries)
        costs = latency_costs(arch, self.space, self.in_channels, self.num_classes, self.profile)
        if len(self.profile.entries) != before:
            self.profile.save(self.profile_path)
        return costs

    def _outcomes(self, record: dict[str, Any]) -> ExitOutcomes:
        packed = record.get("outcomes") or self.saved.get(record["arch"])
        if not packed:
            raise UserError(
                f"record {record['arch'][:60]} holds no validation outcomes, which the latency "
                "objective re-tunes thresholds from; use an archive written with outcomes"
            )
        return unpack_outcomes(packed)

    def outcome(
        self, record: dict[str, Any], mode: str, value: float | None, tolerance: float
    ) -> tuple[float, float, list[float | None] | None]:
        """``(accuracy, average ms, thresholds)`` of ``record`` at the latency objective."""
        key = (
            record["arch"],
            record.get("seed"),
            record.get("fidelity_name"),
            record.get("accuracy"),
            mode,
            value,
            tolerance,
        )
        if key not in self._memo:
            costs = self.costs(record["arch"])
            if mode == "open" or value is None:
                objective = Objective("budget", costs.final)
            else:
                objective = Objective(mode, value)
            tuned = tune(self._outcomes(record), costs, objective, self.tuner)
            point = operating_point(tuned, objective, tolerance)
            thresholds = point.to_json()["thresholds"]
            self._memo[key] = (point.accuracy, point.avg_macs, thresholds)
        return self._memo[key]
