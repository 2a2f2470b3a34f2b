"""The result of a blocking key check, the same for every kind of table."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg


def key_check_result(
    asset_key: dg.AssetKey, check_name: str, problems: Mapping[str, int], failure: str
) -> dg.AssetCheckResult:
    """Passes when every count in ``problems`` (rows without a key, repeated keys) is zero,
    and records them as metadata; ``failure`` says what is wrong and how to repair it."""
    passed = not any(problems.values())
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=passed,
        metadata=dict(problems),
        description=None if passed else failure,
    )
