"""The reliability load rounds (issue 9): many concurrent CePO requests and pass-through
streams against a scripted upstream, repeated, with memory, upstream concurrency and
fairness measured. ``python -m bench.reliability --help``; a short version runs in CI
(``tests/reliability/test_load.py``).
"""
