// The protocol's contract as data: protocol.json, written from protocol/ by `valgame docs` (CI fails when it drifts)
// and served by every node. Close codes, the commands safe to resend, field choices and the game's default numbers
// come from here; the client copies none of them.

import contract from "../protocol.json" with { type: "json" };

export default contract;

/** Close codes by name: CLOSE.DRAINING === 1012. */
export const CLOSE = Object.freeze(Object.fromEntries(
  Object.entries(contract.close_codes).map(([name, entry]) => [name, entry.code])));

/** Commands that change nothing stored: safe to send again after a reconnect, without an idem key. */
export const READ_ONLY = new Set(contract.read_only);

/** The game's constants: `settings` (the defaults, until catalog.get gives those in force), `ranks`, `slots`. */
export const GAME = contract.game;

/** The values a command's field accepts, e.g. choices("market.browse", "kind"). */
export function choices(command, field) {
  const spec = contract.commands[command]?.fields.find((f) => f.name === field);
  if (!spec?.choices) throw new Error(`${command}.${field} has no choices in protocol.json`);
  return spec.choices;
}

/** The settings in force (from catalog.get) over the defaults of protocol.json. */
export function settingsOf(catalog) {
  return { ...GAME.settings, ...(catalog?.settings || {}) };
}
