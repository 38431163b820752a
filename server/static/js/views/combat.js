// Dungeons: choose a dungeon, a team and a mode, then watch each round arrive; act by hand in manual mode.

import { settingsOf } from "../contract.js";
import { bar, fill, fmtDuration, fmtInt, h, title } from "../dom.js";

const MAX_LOG = 200;

export function mountCombat(root, app) {
  const { store, conn } = app;
  let current = null; // the running combat as this page knows it
  let results = 0; // combats ended on this page (the result box carries the count, for tests)
  const ended = new Set(); // ids of combats that ended: a late start reply must not bring one back
  let lastDungeon = null;

  const dungeonSelect = h("select", { testid: "dungeon-select" });
  const teamLine = h("span", { class: "team-line", testid: "team-line" });
  const modeAuto = h("input", { type: "radio", name: "mode", value: "auto", checked: true, testid: "mode-auto" });
  const modeManual = h("input", { type: "radio", name: "mode", value: "manual", testid: "mode-manual" });
  const startButton = h("button", { class: "primary", testid: "combat-start", onclick: (e) => start(e.currentTarget) },
    "Enter dungeon");
  const dungeonInfo = h("p", { class: "muted small", testid: "dungeon-info" });
  const setup = h("div", { class: "combat-setup" },
    h("label", {}, "Dungeon ", dungeonSelect),
    dungeonInfo,
    h("div", {}, "Team: ", teamLine),
    h("div", { class: "modes" },
      h("label", {}, modeAuto, " auto"), h("label", {}, modeManual, " manual")),
    startButton);

  const arena = h("div", { class: "arena", testid: "combat-arena", hidden: true });
  const controls = h("div", { class: "combat-controls", testid: "combat-controls", hidden: true });
  const result = h("div", { class: "combat-result", testid: "combat-result", hidden: true });
  const log = h("ol", { class: "combat-log", testid: "combat-log", reversed: true });

  fill(root, h("h2", {}, "Dungeons"), setup, arena, controls, result, h("h3", {}, "Combat log"), log);

  // --- setup -------------------------------------------------------------------------------------------------
  function renderDungeons() {
    const dungeons = app.catalog?.dungeons || [];
    const chosen = dungeonSelect.value || lastDungeon;
    fill(dungeonSelect, dungeons.map((d) =>
      h("option", { value: d.code }, `${title(d.code)} (level ${d.min_level}+)`)));
    if (chosen) dungeonSelect.value = chosen;
    renderDungeonInfo();
  }

  function renderDungeonInfo() {
    const d = (app.catalog?.dungeons || []).find((x) => x.code === dungeonSelect.value);
    if (!d) return;
    const cost = settingsOf(app.catalog).dungeon_energy_cost;
    const drops = d.drops.map((x) => `${title(x.code)} ${Math.round(x.chance * 100)}%`).join(", ");
    dungeonInfo.textContent = `Monster ${d.hp} HP · ${d.atk} ATK · ${d.def} DEF — reward ${d.xp_base} XP, `
      + `${d.val_base} VAL — drops: ${drops} — costs ${cost} energy`;
  }
  dungeonSelect.addEventListener("change", renderDungeonInfo);

  function renderTeam() {
    const chars = store.get("characters") || [];
    const team = [...(store.get("team") || [])];
    const names = team.map((id) => chars.find((c) => c.id === id)).filter(Boolean)
      .map((c) => `${title(c.base)} (Lv ${c.level})`);
    teamLine.textContent = names.length ? names.join(", ") : "tick “team” on up to 3 characters";
  }

  async function start(button) {
    const team = [...(store.get("team") || [])];
    const mode = modeManual.checked ? "manual" : "auto";
    lastDungeon = dungeonSelect.value;
    const data = await app.act(button, () => conn.call("combat.start",
      { dungeon: dungeonSelect.value, team, mode }, { idem: true }));
    if (data?.state) begin(data.state);
    render(); // act() re-enabled the button: disable it again while the combat runs
  }

  // --- running combat -----------------------------------------------------------------------------------------
  function begin(view) {
    const id = view.combat ?? view.id;
    if (current?.id === id || ended.has(id)) return; // the reply and the event both announce it
    current = {
      id, dungeon: view.dungeon, level: view.dungeon_level, mode: view.mode, team: view.team,
      monster: { ...view.monster }, teamHp: { ...(view.team_hp || {}) }, round: view.round, deadline: view.deadline,
    };
    result.hidden = true;
    log.replaceChildren();
    addLine(h("li", { class: "log-start" },
      `Entered ${title(view.dungeon)} (dungeon level ${view.dungeon_level ?? 1}) in ${view.mode} mode.`));
    markTeam(true);
    render();
  }

  function markTeam(inCombat) {
    const ids = new Set(current?.team || []);
    const chars = (store.get("characters") || []).map((c) => (ids.has(c.id) ? { ...c, in_combat: inCombat } : c));
    store.set("characters", chars);
  }

  function render() {
    startButton.disabled = !!current;
    if (!current) {
      arena.hidden = true;
      controls.hidden = true;
      return;
    }
    const chars = store.get("characters") || [];
    arena.hidden = false;
    fill(arena,
      h("div", { class: "fighter monster" },
        h("strong", {}, title(current.dungeon)),
        h("span", { class: "muted" }, ` round ${current.round}`),
        bar(current.monster.hp, current.monster.hp_max, { kind: "monster", testid: "monster-hp" })),
      current.team.map((id) => {
        const c = chars.find((x) => x.id === id);
        const hp = current.teamHp[id] ?? c?.hp ?? 0;
        return h("div", { class: "fighter", testid: "team-member", dataset: { characterId: id } },
          h("span", {}, c ? title(c.base) : id),
          bar(hp, c?.hp_max ?? hp, { kind: "hp", testid: "team-hp" }));
      }));
    renderControls();
  }

  const itemSelect = h("select", { testid: "combat-item" });
  const targetSelect = h("select", { testid: "combat-target" });
  const deadline = h("span", { class: "muted", testid: "combat-deadline" });

  function renderControls() {
    const manual = current?.mode === "manual";
    controls.hidden = !manual;
    if (!manual) return;
    const chars = store.get("characters") || [];
    const potions = (store.get("inventory") || []).filter((i) => i.kind === "consumable");
    fill(itemSelect, potions.map((i) => h("option", { value: i.id }, title(i.code))));
    fill(targetSelect, current.team.map((id) => {
      const c = chars.find((x) => x.id === id);
      return h("option", { value: id }, c ? title(c.base) : id);
    }));
    fill(controls,
      h("button", { class: "primary", testid: "action-attack", onclick: (e) => act(e.currentTarget, "attack") },
        "Attack"),
      h("button", { testid: "action-defend", onclick: (e) => act(e.currentTarget, "defend") }, "Defend"),
      h("span", { class: "use-item" },
        h("button", { testid: "action-item", disabled: !potions.length,
          onclick: (e) => act(e.currentTarget, "item", { item: itemSelect.value, target: targetSelect.value }) },
        "Use"), itemSelect, " on ", targetSelect),
      h("button", { class: "danger", testid: "action-flee", onclick: (e) => act(e.currentTarget, "flee") }, "Flee"),
      deadline);
    tickDeadline();
  }

  function tickDeadline() {
    if (current?.mode !== "manual" || !current.deadline) return;
    const left = current.deadline - conn.serverNow();
    deadline.textContent = left > 0 ? `auto-attack in ${fmtDuration(left)}` : "resolving…";
  }
  setInterval(tickDeadline, 1000);

  async function act(button, action, extra = {}) {
    if (!current) return;
    await app.act(button, () => conn.call("combat.action", { combat: current.id, action, ...extra }, { idem: true }));
    if (action === "item") app.refreshInventory().catch(() => {});
  }

  function onRound(r) {
    if (!current || current.id !== r.combat) return;
    current.round = r.round;
    current.monster.hp = r.monster_hp;
    current.teamHp = { ...current.teamHp, ...(r.team_hp || {}) };
    if (current.mode === "manual") {
      const wait = settingsOf(app.catalog).manual_round_timeout_seconds;
      current.deadline = conn.serverNow() + wait;
    }
    addLine(roundLine(r));
    render();
  }

  function nameOf(id) {
    const c = (store.get("characters") || []).find((x) => x.id === id);
    return c ? title(c.base) : id;
  }

  function roundLine(r) {
    const monster = title(current?.dungeon || "monster");
    const team = [];
    if (r.team_action === "attack") {
      if (r.missed) team.push(h("span", { class: "miss" }, "Your team missed."));
      else {
        team.push(h("span", { class: r.crit ? "crit" : "hit" },
          `Your team hit for ${r.damage_dealt}${r.crit ? " — critical!" : "."}`));
      }
    } else if (r.team_action === "defend") team.push(h("span", {}, "Your team defended."));
    else if (r.team_action === "item") {
      const it = r.item || {};
      team.push(h("span", {}, `Used ${title(it.code || "an item")} on ${nameOf(it.target)}`
        + `${it.healed ? ` (+${it.healed} HP)` : ""}.`));
    } else if (r.team_action === "flee") team.push(h("span", {}, "Your team fled."));

    const foe = [];
    if (r.monster_action === "attack") {
      if (r.monster_missed) foe.push(h("span", { class: "miss" }, `${monster} missed.`));
      else {
        const hits = Object.entries(r.damage_taken || {}).filter(([, d]) => d > 0)
          .map(([id, d]) => `${nameOf(id)} −${d}`);
        foe.push(h("span", { class: "hurt" }, `${monster} hit: ${hits.join(", ") || "no damage"}.`));
      }
    }
    return h("li", { class: "log-round", testid: "combat-round", dataset: { round: r.round } },
      h("span", { class: "round-no" }, `R${r.round}`), team, " ", foe,
      h("span", { class: "muted" }, ` (monster ${r.monster_hp} HP)`));
  }

  function addLine(li) {
    log.prepend(li);
    while (log.children.length > MAX_LOG) log.lastChild.remove();
  }

  function onEnded(e) {
    if (current && current.id !== e.combat) return;
    ended.add(e.combat);
    markTeam(false);
    current = null;
    render();
    showResult(e);
    addLine(h("li", { class: `log-end log-${e.outcome}` }, outcomeWords(e.outcome)));
    app.refreshCharacters().catch(() => {});
    app.refreshInventory().catch(() => {});
  }

  function outcomeWords(outcome) {
    return { win: "Victory!", loss: "Defeat — your team fell.", fled: "You fled." }[outcome] || outcome;
  }

  function showResult(e) {
    const lines = [];
    if (e.outcome === "win") {
      const xp = Object.entries(e.xp || {}).map(([id, n]) => `${nameOf(id)} +${fmtInt(n)} XP`);
      lines.push(h("li", { testid: "reward-xp" }, xp.join(", ")));
      lines.push(h("li", { testid: "reward-val" }, `+${fmtInt(e.val)} VAL`));
      for (const [id, level] of Object.entries(e.level_ups || {})) {
        lines.push(h("li", { class: "levelup", testid: "reward-levelup" }, `${nameOf(id)} reached level ${level}!`));
      }
      if (e.drops?.length) {
        lines.push(h("li", { testid: "reward-drops" }, `Found: ${e.drops.map((d) => title(d.code)).join(", ")}`));
      }
      if (e.drops_lost?.length) {
        lines.push(h("li", { class: "warn" }, `Lost (inventory full): ${e.drops_lost.map(title).join(", ")}`));
      }
      if (e.recruited) {
        lines.push(h("li", { class: "levelup", testid: "reward-recruit" },
          `${title(e.recruited.base)} (rank ${e.recruited.rank}) joined your team!`));
      }
      lines.push(h("li", { class: "muted" }, `+${e.points ?? 0} ranking points, `
        + `+${e.dungeon_points ?? 0} dungeon points · streak ${e.streak}`));
    } else {
      lines.push(h("li", {}, e.outcome === "fled" ? "No rewards for fleeing." : "No rewards this time."));
      const wounded = Object.values(e.team || {}).filter((c) => c.wounded);
      if (wounded.length) {
        lines.push(h("li", { class: "warn" }, `Wounded: ${wounded.map((c) => title(c.base)).join(", ")} — revive them.`));
      }
    }
    if (e.dungeon) {
      lines.push(h("li", { class: "muted" }, `${title(e.dungeon.id)}: level ${e.dungeon.level}, `
        + `${e.dungeon.points} points toward the next`));
    }
    results += 1;
    result.hidden = false;
    result.className = `combat-result result-${e.outcome}`;
    result.dataset.results = String(results);
    result.dataset.outcome = e.outcome;
    fill(result, h("strong", { class: "outcome", testid: "combat-outcome" }, outcomeWords(e.outcome)), " ",
      h("span", { class: "muted" }, `${e.rounds ?? ""} rounds`), h("ul", {}, lines));
  }

  conn.on("combat.started", begin);
  conn.on("combat.round", onRound);
  conn.on("combat.ended", onEnded);

  // After (re)connecting: pick up a combat that is still running, or notice that it ended meanwhile.
  conn.on("ready", async () => {
    try {
      const { combat } = await conn.call("combat.state");
      if (combat) {
        if (!current || current.id !== (combat.combat ?? combat.id)) begin(combat);
        else {
          Object.assign(current, { round: combat.round, deadline: combat.deadline });
          current.monster = { ...combat.monster };
          current.teamHp = { ...combat.team_hp };
          render();
        }
      } else if (current) {
        addLine(h("li", { class: "muted" }, "The combat ended while you were away."));
        markTeam(false);
        current = null;
        render();
      }
    } catch (err) {
      app.showError(err);
    }
  });

  store.watch("catalog", renderDungeons);
  store.watch("team", renderTeam);
  store.watch("characters", () => {
    renderTeam();
    if (current) render();
  });
}
