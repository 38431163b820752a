// The free inventory: equip an item or use a consumable on the chosen character, or offer it on the market.

import { fill, h, title } from "../dom.js";

export function mountInventory(root, app) {
  const { store, conn } = app;
  const target = h("select", { testid: "inventory-target", title: "Character that receives the item" });
  const list = h("ul", { class: "inventory", testid: "inventory" });
  const count = h("span", { class: "muted" });
  fill(root,
    h("h2", {}, "Inventory ", count),
    h("label", { class: "inline" }, "Use or equip on ", target),
    list);

  function describe(item) {
    const cat = app.catalog;
    if (item.kind === "equipment") {
      const e = cat?.equipment.get(item.code);
      if (!e) return "";
      const stats = [e.atk ? `+${e.atk} atk` : "", e.def ? `+${e.def} def` : "", e.hp ? `+${e.hp} hp` : ""];
      return `${e.slot} · rank ${e.rank} · lvl ${e.min_level}+ · ${stats.filter(Boolean).join(" ")}`;
    }
    const c = cat?.consumables.get(item.code);
    if (!c) return `${item.uses} use(s)`;
    const fx = [c.heal ? `+${c.heal} HP` : "", c.atk ? `+${c.atk} atk` : "", c.def ? `+${c.def} def` : "",
      c.xp_pct ? `+${c.xp_pct}% XP` : ""].filter(Boolean).join(" ");
    const lasts = c.duration_seconds ? ` for ${Math.round(c.duration_seconds / 60)} min` : "";
    return `${item.uses} use${item.uses === 1 ? "" : "s"} · ${fx}${lasts}`;
  }

  function renderTargets() {
    const chars = store.get("characters") || [];
    const chosen = target.value;
    fill(target, chars.map((c) => h("option", { value: c.id }, `${title(c.base)} (${c.rank}, Lv ${c.level})`)));
    if (chars.some((c) => c.id === chosen)) target.value = chosen;
  }

  function row(item) {
    const action = item.kind === "equipment"
      ? h("button", { testid: "equip", onclick: (e) => app.act(e.currentTarget, async () => {
        const data = await conn.call("character.equip", { character: target.value, item: item.id }, { idem: true });
        app.updateCharacter(data.character);
        await app.refreshInventory();
      }, `${title(item.code)} equipped.`) }, "Equip")
      : h("button", { testid: "use", onclick: (e) => app.act(e.currentTarget, async () => {
        const data = await conn.call("item.use", { item: item.id, character: target.value }, { idem: true });
        app.updateCharacter(data.character);
        await app.refreshInventory();
      }, `${title(item.code)} used.`) }, "Use");
    return h("li", { class: "item", testid: "inventory-item", dataset: { itemId: item.id, code: item.code } },
      h("span", { class: `kind kind-${item.kind}` }, item.kind === "equipment" ? "⚔" : "⚗"),
      h("span", { class: "item-name" }, h("strong", {}, title(item.code)), h("small", { class: "muted" }, describe(item))),
      h("span", { class: "actions" }, action,
        h("button", { class: "ghost", testid: "sell", title: "Offer on the market",
          onclick: () => store.set("sell-pick", { item: item.id }) }, "Sell…")));
  }

  function render() {
    const items = store.get("inventory");
    if (!items) return;
    count.textContent = `(${items.length})`;
    fill(list, items.length ? items.map(row) : h("li", { class: "muted" }, "Nothing here yet."));
  }

  store.watch("characters", renderTargets);
  store.watch("inventory", render);
  store.watch("catalog", render);
}
