"""Evaluation: data loaders, metrics, benchmark generators and runners.

The benchmark generators live in :mod:`ctx_core.eval.generators`.
"""
