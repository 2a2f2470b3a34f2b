"""Dagster resources of the code location."""

from gladly_assets.resources.errors import (
    GladlyAuthError,
    GladlyConfigError,
    GladlyConnectionError,
    GladlyError,
    GladlyJobExpired,
    GladlyNotFound,
    GladlyOrganizationNotFound,
    GladlyPermissionError,
    GladlyResponseError,
    GladlyRetriesExhausted,
)
from gladly_assets.resources.gladly import ExportJob, GladlyResource, parse_instant
from gladly_assets.resources.organization import ALLOWED_DOMAINS, api_root

__all__ = [
    "ALLOWED_DOMAINS",
    "ExportJob",
    "GladlyAuthError",
    "GladlyConfigError",
    "GladlyConnectionError",
    "GladlyError",
    "GladlyJobExpired",
    "GladlyNotFound",
    "GladlyOrganizationNotFound",
    "GladlyPermissionError",
    "GladlyResource",
    "GladlyResponseError",
    "GladlyRetriesExhausted",
    "api_root",
    "parse_instant",
]
