"""WebSocket transports under the session: the port (port.py) and its adapters (ASGI on uvicorn, picows)."""
