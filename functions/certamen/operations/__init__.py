"""The operator's side: what a person runs around the system, never part of a vote's path.

``cli.py`` is the ``certamen`` command (it starts each service by its module
name), ``stack/`` the local stack, ``demo.py`` and ``demo_report.py`` the
demo, ``audit.py`` the audit command, ``bench.py`` the benchmark suite,
``votefiles.py`` vote files and ``loadgen/`` load generation. It may import
anything in the package; nothing in the running system imports it.
"""
