"""Benchmarks of the postbacks services, run with `make bench` or `python -m bench [SCENARIO]`.

Each scenario is a module of its own (bench/query.py, ...) that the dispatcher in
bench/__main__.py lists; shared helpers time calls (bench/timing.py) and report figures
(bench/report.py). Results go to bench/results/<scenario>.json, which git ignores.
"""
