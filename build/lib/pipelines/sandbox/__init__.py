"""A local simulator of Amazon's SP-API Orders API v2026-01-01 (the "sandbox")."""

from .marketplace import Buyer, Item, Marketplace
from .server import SandboxServer

__all__ = ["Buyer", "Item", "Marketplace", "SandboxServer"]
