"""Valgame server: a node of the real-time game server."""
