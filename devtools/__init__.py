"""Development tools shared by the tests, the demo and the benchmarks (not shipped).

- :mod:`devtools.static`: which URL serves which local file (Pyodide, PyScript,
  heartsock's sources, wheels, pages), with no path traversal.
- :mod:`devtools.faults`: a real ``websockets`` server with switchable faults.
- :mod:`devtools.browser`: headless Debian Chromium through Playwright, offline.
- :mod:`devtools.vendor`: micropip for the offline Pyodide, checked against its recorded hash.
- :mod:`devtools.bundle`: the offline bundle for users' own pages (``make bundle DEST=...``).
"""
