"""Cost accounting (MACs) of early-exit networks."""

from aebnas.costs.macs import ExitCosts, count_macs, exit_costs

__all__ = ["ExitCosts", "count_macs", "exit_costs"]
