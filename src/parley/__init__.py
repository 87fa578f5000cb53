"""Parley: a self-hosted home for AI conversations."""

__version__ = "0.1.0"
