"""lutnpu hardware: Amaranth components generated from one :class:`NpuConfig`."""

from .config import NpuConfig

__all__ = ["NpuConfig"]
