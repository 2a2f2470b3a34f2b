"""A local Gladly Export API and Reports API for tests, demos and benchmarks.

    from gladly_assets.simulator import GladlySimulator

    with GladlySimulator(seed=7, frequency="DAILY", now=datetime(2026, 11, 20, 12, tzinfo=UTC)) as sim:
        sim.faults.server_errors = [503]           # the next request fails once
        job = sim.complete_job(malformed_lines=4)  # a new job with four bad lines per big file
        ...  # point a client at sim.base_url with sim.agent_email / sim.api_token

Reports (``reports``): ``POST /reports`` serves ``ConversationExportReport``,
``ContactExportReportV3``, ``ConversationTimestampsReport``, ``ContactTimestampsReport``
and ``WorkSessionEventsReportV4`` as Gladly's CSVs (byte-order mark, RFC 4180
quoting, filter-echo columns, empty body for an empty window), computed from the
conversation items of the visible jobs; ``POST /reports/work-session-events``,
``GET /teams`` and ``GET /inboxes`` too. ``sim.report_options`` (``ReportOptions``)
sets the limits (10 report requests a minute, 2 at once, a silent row cap of
100,000), the byte-order mark, the header style and the organization's zone;
``sim.reports.hold()`` keeps admitted report requests waiting (concurrency tests);
``Faults(applies_to="reports")`` and ``faults.report_bodies`` aim faults at them:

    sim.report_options.row_cap = 10
    sim.faults.report_bodies = ["html"]  # the next report answers 200 with a web page

Modules: ``world`` (the seeded organization and how it changes), ``generator``
(one job's files), ``jsonl`` (fast JSON lines, malformed lines), ``vocabulary``
(names and texts), ``faults`` (``Faults``), ``jobs`` (job model, clock, time
formats), ``handler`` (HTTP), ``server`` (``GladlySimulator``), ``__main__``
(CLI: ``python -m gladly_assets.simulator --help``), ``reports`` (the Reports
API: requests, limits, CSV), ``reports_model`` (conversations, contacts, events
and work sessions derived from the items), ``reports_sets`` (the metric sets'
columns). No product module imports this package.
"""

from .faults import Faults
from .handler import RequestRecord
from .reports import ReportOptions
from .server import GladlySimulator

__all__ = ["Faults", "GladlySimulator", "ReportOptions", "RequestRecord"]
