"""The reliability suite (issue 9): faults, clients that leave, hostile input, shutdown, load.

The long load rounds live in ``bench/reliability`` (``python -m bench.reliability``); the
short version of them runs here.
"""
