"""heartsock's server companion in a FastAPI app: `uvicorn app:app --host 127.0.0.1 --port 8000`."""

from fastapi import FastAPI, WebSocket

from heartsock.server import Heartbeat, HeartbeatConnection, asgi

app = FastAPI()
heartbeat = Heartbeat(timeout=15)  # close a connection silent for 15 s (after the client's heartbeat)


async def echo(ws: HeartbeatConnection) -> None:
    async for message in ws:  # heartbeats are answered for you and never show up here
        await ws.send(message)


@app.websocket("/ws/echo")
async def echo_endpoint(websocket: WebSocket) -> None:
    await asgi(echo, heartbeat)(websocket)
