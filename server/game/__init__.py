"""Pure game rules of Valgame: no I/O, no clock, no global randomness.

Every rule takes the player's state plus a `RuleContext` (settings, the current time, a seeded random generator and an
id factory) and returns an `Outcome` holding a new state, the reply, ledger deltas, events and notifications. The
caller (a command handler) persists the new state and ledger together, then pushes the events.
"""
