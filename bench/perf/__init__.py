"""The performance benchmark: cepo-proxy against the ideal and against optillm, in one run.

Everything runs as separate processes on 127.0.0.1 (the scripted upstream of
``tests.fake_upstream``, the proxy, optillm when installed) so that start-up time and
resident memory can be measured, and every request count and duration is bounded.

Modules: :mod:`~bench.perf.procs` (starting, measuring and stopping the processes),
:mod:`~bench.perf.load` (the HTTP client side: one request, many at once),
:mod:`~bench.perf.stats` (percentiles), :mod:`~bench.perf.scenarios` (the four scenarios),
:mod:`~bench.perf.sizes` (installed size of an environment), :mod:`~bench.perf.goals`
(the goals and whether the numbers meet them), :mod:`~bench.perf.report` (the markdown
section of ``bench/RESULTS.md``), :mod:`~bench.perf.chart` (the PNG) and
:mod:`~bench.perf.cli` (``python -m bench``).
"""
