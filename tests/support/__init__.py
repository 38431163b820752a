"""Test support: real server processes, real sockets, a protocol client."""
