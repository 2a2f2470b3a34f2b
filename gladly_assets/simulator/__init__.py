"""A local Gladly Export API for tests, demos and benchmarks.

    from gladly_assets.simulator import GladlySimulator

    with GladlySimulator(seed=7, frequency="DAILY", now=datetime(2026, 11, 20, 12, tzinfo=UTC)) as sim:
        sim.faults.server_errors = [503]           # the next request fails once
        job = sim.complete_job(malformed_lines=4)  # a new job with four bad lines per big file
        ...  # point a client at sim.base_url with sim.agent_email / sim.api_token

Modules: ``world`` (the seeded organization and how it changes), ``generator``
(one job's files), ``jsonl`` (fast JSON lines, malformed lines), ``vocabulary``
(names and texts), ``faults`` (``Faults``), ``jobs`` (job model, clock, time
formats), ``handler`` (HTTP), ``server`` (``GladlySimulator``), ``__main__``
(CLI: ``python -m gladly_assets.simulator --help``). No product module imports
this package.
"""

from .faults import Faults
from .handler import RequestRecord
from .server import GladlySimulator

__all__ = ["Faults", "GladlySimulator", "RequestRecord"]
