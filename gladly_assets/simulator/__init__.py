"""A local Gladly Export API and Reports API for tests, demos and benchmarks.

    from gladly_assets.simulator import GladlySimulator

    with GladlySimulator(seed=7, frequency="DAILY", now=datetime(2026, 11, 20, 12, tzinfo=UTC)) as sim:
        sim.faults.server_errors = [503]           # the next request fails once
        job = sim.complete_job(malformed_lines=4)  # a new job with four bad lines per big file
        resource = GladlyResource(**sim.client_settings())  # or sim.client_environment(): GLADLY_*

What it sends is what Gladly documents (``tests/schemas/`` holds the JSON Schemas a
conformance test checks it against): optional fields omitted rather than null, sparse
customers, items outside any conversation or without an initiator, 2 to 9 fraction
digits, now and then a content type the export does not list. Export windows start at
the schedule's own time of day (daily ones in the UTC night), hourly jobs appear about
two hours after their window, and the newest windows have a job IN_PROGRESS and one
PENDING. Options: ``windows="overlapping"`` or ``"gapped"`` (every third window starts
early or late), ``ranges=True`` (byte ranges, ``ETag`` and ``If-Range``, which Gladly
does not document), ``window_anchor`` (the schedule's time of day).

Conversations span export jobs: one begun in one window continues, or is reopened, in
later windows, with the same ids; the oldest jobs hold the rest of conversations begun
before the 14-day horizon. To derive other data (Reports API CSVs, analytics oracles)
from exactly what a client can download:

- ``sim.conversation_items()``: every distinct item of the visible COMPLETED jobs, as dicts;
- ``sim.agents()``, ``sim.topics()``: as ``GET /agents`` and ``GET /topics`` list them;
- ``sim.inboxes()`` (``{id, name, channels}``) and ``sim.inbox_of(conversation_id, channel)``:
  the inbox a conversation was routed to, stable per conversation (the export has no inboxes).

Reports: ``POST /reports`` serves ``ConversationExportReport``, ``ContactExportReportV3``,
``ConversationTimestampsReport``, ``ContactTimestampsReport`` and ``WorkSessionEventsReportV4``
as Gladly's CSVs (byte-order mark, RFC 4180 quoting, filter-echo columns, rows in no
order, an empty body for an empty window), derived from ``conversation_items()``;
``POST /reports/work-session-events``, ``GET /teams`` and ``GET /inboxes`` too.
``sim.report_options`` (``ReportOptions``) sets the limits (10 report requests a minute
and 2 at once, 429 past either; a silent row cap of 100,000), the byte-order mark, line
ends, the header style and the organization's zone; ``sim.reports.hold()`` keeps admitted
report requests waiting (concurrency tests); ``Faults(applies_to="reports")`` and
``faults.report_bodies`` aim faults at them:

    sim.report_options.row_cap = 10
    sim.faults.report_bodies = ["html"]  # the next report answers 200 with a web page

Modules: ``world`` (the seeded organization and how it changes), ``generator`` (one
job's files, conversations by schedule slot), ``jsonl_writer`` (fast JSON lines,
malformed lines), ``vocabulary`` (names and texts), ``faults`` (``Faults``), ``jobs``
(job model, schedule, clock, time formats), ``handler`` (HTTP, through the small
``SimulatorBackend`` interface), ``server`` (``GladlySimulator``), ``__main__`` (CLI:
``python -m gladly_assets.simulator --help``), ``reports`` (the Reports API: requests,
limits, CSV), ``reports_model`` (conversations, contacts, events and work sessions
derived from the items; defines a contact), ``reports_sets`` (the metric sets' columns).
No product module imports this package.
Bump ``world.GENERATOR_VERSION`` whenever the generated data changes.
"""

from .faults import Faults
from .handler import RequestRecord
from .reports import ReportOptions
from .server import GladlySimulator

__all__ = ["Faults", "GladlySimulator", "ReportOptions", "RequestRecord"]
