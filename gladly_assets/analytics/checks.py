"""Asset checks of the analytics tables, generated from ``models.MODELS``.

* ``key_is_unique`` (blocking), on every table: its key is never NULL nor repeated.
* Each model's ``violations``: a query counting the rows that break a rule.

Evaluated in the asset's own step, right after the build, on the same connection.
"""

from __future__ import annotations

import dagster as dg

from gladly_assets.analytics.build import AnalyticsWarehouse
from gladly_assets.analytics.models import AnalyticsModel
from gladly_assets.key_check import key_check_result

KEY_IS_UNIQUE = "key_is_unique"


def check_specs(model: AnalyticsModel) -> list[dg.AssetCheckSpec]:
    key = ", ".join(model.key)
    return [
        dg.AssetCheckSpec(
            KEY_IS_UNIQUE,
            asset=model.asset_key,
            description=f"({key}) is never NULL and never repeated.",
            blocking=True,
        ),
        *(
            dg.AssetCheckSpec(v.name, asset=model.asset_key, description=v.description, blocking=v.blocking)
            for v in model.violations
        ),
    ]


def evaluate_checks(model: AnalyticsModel, warehouse: AnalyticsWarehouse) -> list[dg.AssetCheckResult]:
    null_keys, duplicate_keys = warehouse.key_problems(model)
    results = [
        key_check_result(
            model.asset_key,
            KEY_IS_UNIQUE,
            {"null_keys": null_keys, "duplicate_keys": duplicate_keys},
            f"{model.qualified_name} has {null_keys} row(s) with a NULL key and {duplicate_keys} repeated "
            "key(s); materialise it with run config `full_rebuild: true`.",
        )
    ]
    for violation in model.violations:
        offending = warehouse.violations(model, violation.sql)
        results.append(
            dg.AssetCheckResult(
                asset_key=model.asset_key,
                check_name=violation.name,
                passed=offending == 0,
                metadata={"offending_rows": offending},
                description=None if offending == 0 else f"{offending} row(s) break the rule: {violation.description}",
            )
        )
    return results
