"""Page side of tests/browser/test_packaging.py: a page without heartsock's sources.

Nothing is imported from heartsock at the top: it exists only once micropip installed it.
"""

from __future__ import annotations

import asyncio

import js


async def wheel_echo(wheel: str, url: str) -> tuple[str | bytes, str]:
    """micropip-install the wheel served at ``/testwheels/<wheel>``, then echo through it."""
    await js.pyodide.loadPackage("micropip")
    import micropip

    await micropip.install(js.location.origin + "/testwheels/" + wheel, deps=False)
    import heartsock

    async with heartsock.connect(url) as sock:
        sock.send("from the wheel")
        echo = await asyncio.wait_for(sock.recv(), 5)
    return echo, heartsock.__file__
