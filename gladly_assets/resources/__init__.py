"""Dagster resources of the code location: the Gladly HTTP API."""

from gladly_assets.resources.gladly import GladlyResource
from gladly_assets.resources.organization import ALLOWED_DOMAINS, api_root

__all__ = ["ALLOWED_DOMAINS", "GladlyResource", "api_root"]
