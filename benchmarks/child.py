"""Run one contender in this process: ``python benchmarks/child.py SPEC.json``.

The spec's ``kind`` names the contender; its result (seconds, peak RSS, rows, ...) is
written as JSON to the spec's ``result`` path. Only the standard library is imported
here, so that the dlt contender can run under another interpreter.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

# kind -> module:function of the contender that runs it.
CONTENDERS = {
    "gladly": "contenders.gladly:materialize",
    "parser": "contenders.gladly:parser_alone",
    "ceiling_load": "contenders.duckdb_ceiling:load",
    "ceiling_merge": "contenders.duckdb_ceiling:merge",
    "naive": "contenders.naive:load",
    "dlt": "contenders.dlt_merge:load",
}


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    module, function = CONTENDERS[spec["kind"]].split(":")
    result = getattr(importlib.import_module(module), function)(spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
