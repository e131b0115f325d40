"""Page-side code of the browser tier: async functions that tests run in Pyodide.

``PyPage.call("basic.round_trip", url, ...)`` (``devtools/browser.py``) copies this
package into the page's file system once, awaits the function with JSON arguments and
returns its JSON result. One module per test file: ``basic`` (test_basic.py), ``faults``,
``aio`` (test_asyncio.py), ``leaks``, ``sessions``, ``runtimes`` (test_runtimes.py: runs under
Pyodide and MicroPython alike), ``worker`` (runs in a Web Worker,
without ``hstest``) and ``install`` (a page without heartsock's sources, before micropip
ran). ``common`` holds the socket under test that a test's successive calls share.

Times arrive already scaled by the host's ``T``; timeouts written ``5 * hstest.T`` scale
in the page. ``ruff check .`` and ``make lint``'s mypy run check every module here.
"""
