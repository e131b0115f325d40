"""heartsock sessions in a FastAPI app: `uvicorn sessions:app --host 127.0.0.1 --port 8000`.

The browser side is `Socket("ws://127.0.0.1:8000/ws/notes", resume=True)`: every note
reaches the handler exactly once, in order, and every reply reaches the page, through
any number of dropped connections.
"""

from fastapi import FastAPI, WebSocket

from heartsock.server import Heartbeat, Session, asgi


async def notes(session: Session) -> None:
    """Runs once per session, across the client's reconnects: its state is plain local variables."""
    count = 0
    async for note in session:  # ends when the client destroys its socket or the session expires
        count += 1
        await session.send(f"note {count}: {note}")  # kept and replayed until the client acknowledges it


app = FastAPI()
# Made once, not per request: the sessions live in the endpoint (one process, in memory).
notes_endpoint = asgi(notes, Heartbeat(timeout=15), resume=True, session_ttl=60.0)


@app.websocket("/ws/notes")
async def notes_route(websocket: WebSocket) -> None:
    await notes_endpoint(websocket)
