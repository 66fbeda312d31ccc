"""Confidence measures and per-exit threshold tuning."""
