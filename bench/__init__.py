"""heartsock's benchmarks (issue 6): heartsock side by side with the browser's own WebSocket.

Run ``make bench`` (or ``python -m bench``; ``--smoke`` for a seconds-long check). See
``bench/__main__.py`` for the options and ``bench/runner.py`` for how a run is organised.
"""
