"""Unit tests of the pure game rules (no I/O)."""
