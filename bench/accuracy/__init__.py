"""Accuracy harness: does CePO make the model smarter? Measured through the proxy over HTTP.

Modules, one concept each: :mod:`~bench.accuracy.datasets` (items, prompts, holdout,
selection), :mod:`~bench.accuracy.extraction` and :mod:`~bench.accuracy.literals`
(finding the answer in a reply), :mod:`~bench.accuracy.scoring` (the shared verdict),
:mod:`~bench.accuracy.arms`, :mod:`~bench.accuracy.records` (the JSONL results file),
:mod:`~bench.accuracy.runner` (requests through the ``openai`` SDK),
:mod:`~bench.accuracy.proxies` (spreading them across proxies),
:mod:`~bench.accuracy.stats`, :mod:`~bench.accuracy.summary`,
:mod:`~bench.accuracy.report` and :mod:`~bench.accuracy.plot` (the RESULTS.md section),
:mod:`~bench.accuracy.cli`. Usage: ``bench/accuracy/README.md``.
"""
