// The player's characters: stats, HP, level and XP, wounds, equipment and buffs; heal, revive, evolve; team choice.

import { GAME, settingsOf } from "../contract.js";
import { bar, fill, fmtDuration, fmtInt, h, title } from "../dom.js";

export function mountCharacters(root, app) {
  const { store, conn } = app;
  const list = h("div", { class: "characters", testid: "characters" });
  const count = h("span", { class: "muted" });
  fill(root, h("h2", {}, "Characters ", count), list);
  store.set("team", new Set());

  function settings() {
    return settingsOf(app.catalog);
  }

  function healCost(c) {
    const s = settings();
    const step = s.heal_hp_step;
    return Math.ceil((c.hp_max - c.hp) / step) * s.heal_val_per_step;
  }

  function evolveNeeds(c) {
    const s = settings();
    const levels = s.stage_min_levels;
    const vals = s.stage_costs_val;
    const evos = s.stage_costs_evo;
    const i = c.stage - 1;
    if (i >= levels.length) return null;
    return { level: levels[i], val: vals[i], evo: evos[i] };
  }

  function command(type, c, button, words) {
    return app.act(button, async () => {
      const data = await conn.call(type, { character: c.id }, { idem: true });
      app.updateCharacter(data.character);
      return data;
    }, words);
  }

  function actionsOf(c) {
    const s = settings();
    const busy = c.in_combat;
    const actions = [];
    if (c.wounded) {
      actions.push(h("button", { testid: "revive", disabled: busy,
        onclick: (e) => command("character.revive", c, e.currentTarget, `${title(c.base)} is back on its feet.`) },
      `Revive (${fmtInt(s.revive_cost_val)} VAL)`));
    } else {
      const full = c.hp >= c.hp_max;
      actions.push(h("button", { testid: "heal", disabled: busy || full, title: `${s.heal_energy_cost} energy`,
        onclick: (e) => command("character.heal", c, e.currentTarget, `${title(c.base)} is fully healed.`) },
      full ? "Heal" : `Heal (${fmtInt(healCost(c))} VAL)`));
    }
    const needs = evolveNeeds(c);
    if (needs) {
      actions.push(h("button", { testid: "evolve", disabled: busy || c.wounded || c.level < needs.level,
        title: `Needs level ${needs.level}, ${fmtInt(needs.val)} VAL, ${needs.evo} EVO and `
          + `${s.evolve_energy_cost} energy`,
        onclick: (e) => command("character.evolve", c, e.currentTarget, `${title(c.base)} evolved!`) },
      `Evolve → stage ${c.stage + 1}`));
    }
    return actions;
  }

  function equipmentOf(c) {
    return GAME.slots.map((slot) => {
      const item = c.equipment?.[slot];
      return h("li", { class: item ? "" : "muted" },
        h("span", { class: "slot" }, slot), item ? title(item.code) : "—",
        item ? h("button", { class: "link", testid: `unequip-${slot}`, disabled: c.in_combat, title: "Take it off",
          onclick: (e) => app.act(e.currentTarget, async () => {
            const data = await conn.call("character.unequip", { character: c.id, slot }, { idem: true });
            app.updateCharacter(data.character);
            await app.refreshInventory();
          }) }, "×") : null);
    });
  }

  function card(c) {
    const team = store.get("team");
    const teamMax = settings().team_max;
    const now = conn.serverNow();
    const buffs = (c.buffs || []).map((b) => {
      const what = b.stat === "xp" ? `+${b.amount}% XP` : `+${b.amount} ${b.stat}`;
      return h("span", { class: "chip chip-buff", title: title(b.source) },
        `${what} · ${fmtDuration(b.expires_at - now)}`);
    });
    const teamBox = h("input", { type: "checkbox", testid: "team-toggle", checked: team.has(c.id),
      disabled: c.wounded || c.in_combat || (!team.has(c.id) && team.size >= teamMax),
      onchange: (e) => {
        const next = new Set(store.get("team"));
        if (e.currentTarget.checked) next.add(c.id); else next.delete(c.id);
        store.set("team", next);
      } });

    return h("article", { class: `card character${c.wounded ? " wounded" : ""}`, testid: "character-card",
      dataset: { characterId: c.id, base: c.base } },
    h("header", {},
      h("span", { class: `rank rank-${c.rank}` }, c.rank),
      h("strong", { testid: "character-name" }, title(c.base)),
      h("span", { class: "muted", testid: "character-level" }, `Lv ${c.level}`),
      c.stage > 1 ? h("span", { class: "chip" }, `stage ${c.stage}`) : null,
      c.wounded ? h("span", { class: "chip chip-bad", testid: "character-wounded",
        title: c.lost_at ? "lost unless revived" : "" },
      c.lost_at ? `wounded · lost in ${fmtDuration(c.lost_at - now)}` : "wounded") : null,
      c.in_combat ? h("span", { class: "chip chip-warn" }, "in combat") : null,
      h("label", { class: "team-pick", title: "Take into the next dungeon" }, teamBox, "team")),
    h("div", { class: "bars" },
      h("span", { class: "label" }, "HP"), bar(c.hp, c.hp_max, { kind: "hp", testid: "character-hp" }),
      h("span", { class: "label" }, "XP"),
      c.xp_next ? bar(c.xp, c.xp_next, { kind: "xp", testid: "character-xp" })
        : bar(1, 1, { kind: "xp", label: "max level", testid: "character-xp" })),
    h("div", { class: "stats" },
      h("span", {}, "ATK ", h("b", { testid: "character-atk" }, c.atk)),
      h("span", {}, "DEF ", h("b", { testid: "character-def" }, c.def)),
      buffs),
    h("ul", { class: "equipment" }, equipmentOf(c)),
    h("div", { class: "actions" }, actionsOf(c)));
  }

  function render() {
    const chars = store.get("characters");
    if (!chars) return;
    // Keep the team to characters that can still fight; default to the first able one.
    const able = new Set(chars.filter((c) => !c.wounded).map((c) => c.id));
    const chosen = store.get("team");
    let team = new Set([...chosen].filter((id) => able.has(id)));
    if (team.size === 0 && able.size > 0) team = new Set([chars.find((c) => !c.wounded).id]);
    if (team.size !== chosen.size || [...team].some((id) => !chosen.has(id))) {
      store.values.team = team; // set silently: the combat panel reads it when it starts a fight
    }
    count.textContent = `(${chars.length})`;
    fill(list, chars.map(card));
  }

  store.watch("characters", render);
  store.watch("catalog", render);
  store.watch("team", render);
  // Wound countdowns and buff timers.
  setInterval(() => {
    const chars = store.get("characters") || [];
    if (chars.some((c) => c.wounded || (c.buffs || []).length)) render();
  }, 30000);
}
