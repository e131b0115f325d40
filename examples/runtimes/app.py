"""One application, three runtimes: a PyScript page (Pyodide), a PyScript ``mpy`` page (MicroPython), CPython.

The application code — :class:`App` — is the same everywhere: it connects with the reference
library's option dict, says hello, and reports every state change, close and message
through ``show(line)``. Only the few lines that start it differ:

- in a page (``index.html``: ``<script type="py">``; ``index-mpy.html``: ``<script type="mpy">``)
  :func:`in_page` reads ``?url=`` and ``&heart=`` from the address and shows each line in
  the page's list;
- under CPython, ``python examples/runtimes/app.py ws://127.0.0.1:8000/ws/echo`` prints each
  line (``pip install heartsock[cpython]``).

Kill the server, make it go silent, bring it back: the lines say what heartsock did.
"""

import heartsock


class App:
    """The application: a socket whose every event becomes a line for ``show``."""

    def __init__(self, url: str, show, heart: float = 1.0) -> None:
        self.show = show
        self.sock = heartsock.Socket(
            {
                "url": url,
                "heartTime": heart * 1000,
                "reconnectTime": 100,
                "openCb": self.on_open,
                "closeCb": self.on_close,
                "messageCb": self.on_message,
            },
            pong_msg="pong",
            reconnect_max_time=1.0,
            state_cb=self.on_state,
        )
        show("runtime " + heartsock.runtime(self.sock))

    def on_open(self, event) -> None:
        self.show("open " + str(event.socket_id))
        self.sock.send("hello from " + heartsock.runtime(self.sock))

    def on_close(self, event) -> None:
        self.show("close " + str(event.code) + " " + event.reason)

    def on_message(self, data) -> None:
        self.show("message " + (data if isinstance(data, str) else repr(data)))

    def on_state(self, old, new) -> None:
        self.show("state " + new.name)


def in_page() -> App:
    """Start the app in a PyScript page (``py`` or ``mpy``); lines go to ``<ol id="log">``."""
    import js

    params = js.URLSearchParams.new(js.location.search)
    url = params.get("url") or "ws://127.0.0.1:8000/ws/echo"
    heart = float(params.get("heart") or "1")
    log = js.document.getElementById("log")

    def show(line: str) -> None:
        item = js.document.createElement("li")
        item.textContent = line
        log.appendChild(item)

    return App(url, show, heart)


async def main(url: str, heart: float = 1.0, seconds: float = 3600.0) -> None:
    """Run the app under CPython for ``seconds``, printing each line."""
    import asyncio

    app = App(url, lambda line: print(line, flush=True), heart)
    try:
        await asyncio.sleep(seconds)
    finally:
        app.sock.destroy()


if __name__ == "__main__":
    import asyncio
    import sys

    args = sys.argv[1:]
    asyncio.run(main(args[0], *(float(a) for a in args[1:3])))
