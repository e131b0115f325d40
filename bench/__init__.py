"""heartsock's browser benchmarks: heartsock side by side with the browser's own WebSocket.

``make bench`` (``python -m bench``) runs them and renders ``bench/PERFORMANCE.md`` and the
README's performance section from ``bench/summary.json``; ``python -m bench.report``
renders them again without running; ``python -m bench --smoke`` checks in seconds that
everything runs. Modules: :mod:`bench.run` (pages and plan), :mod:`bench.servers`,
:mod:`bench.summary` (raw results → summary), :mod:`bench.report` (summary → text),
:mod:`bench.storm` (the simulated reconnect storm).

``make soak`` (``python -m bench.soak``) is apart: the demo server under hostile load
(:mod:`bench.soak`), its results in ``bench/soak.json`` rendered into the README's
security section by :mod:`bench.soak_report`.
"""
