"""heartsock's quick start: connect, show the socket's state, echo what you type."""

import js
from pyscript import document, when

import heartsock

URL = "ws://127.0.0.1:8000/ws/echo"  # edit me (`make demo` serves this echo endpoint)
url = js.URLSearchParams.new(js.location.search).get("url") or URL  # or open index.html?url=ws://...


def show(text):
    item = document.createElement("li")
    item.textContent = text
    document.querySelector("#log").append(item)


def on_state(old, new):
    document.querySelector("#state").textContent = new.name.lower()  # connecting, open, reconnecting…


sock = heartsock.Socket(
    url,
    pong_msg="pong",  # heartsock.server (and `make demo`) answer each "ping" heartbeat with "pong"
    reconnect_count=-1,  # never give up
    message_cb=lambda data: show(f"← {data}"),
    state_cb=on_state,
)


@when("submit", "#chat")
def send(event):
    event.preventDefault()
    box = document.querySelector("#text")
    sock.send(box.value)  # sent now if open, else queued and sent once it is
    show(f"→ {box.value}")
    box.value = ""
