// The market: browse with filters and pages, list goods, buy, cancel. The page follows the live feed
// (topic `market:digest`): new listings appear and sold, cancelled or expired ones disappear without a reload.

import { choices, GAME, settingsOf } from "../contract.js";
import { fill, fmtInt, h, title } from "../dom.js";

const RANKS = GAME.ranks.map((r) => r.code);
const PAGE = 20;
const DESCENDING = { price: false, newest: true, level: true };

export function mountMarket(root, app) {
  const { store, conn } = app;
  let filters = {};
  let cursors = []; // cursors of the pages before the current one ("" for the first)
  let cursor = null; // cursor of the current page
  let next = null;
  let listings = [];
  let mine = [];

  // --- sell -------------------------------------------------------------------------------------------------
  const sellWhat = h("select", { testid: "sell-select" });
  const sellPrice = h("input", { type: "number", min: "1", step: "1", required: true, testid: "sell-price",
    placeholder: "price" });
  const sellFeatured = h("input", { type: "checkbox", testid: "sell-featured" });
  const sellButton = h("button", { type: "submit", class: "primary", testid: "sell-submit" }, "List for sale");
  const sellHint = h("small", { class: "muted", testid: "sell-hint" });
  const sellForm = h("form", { class: "sell-form", testid: "sell-form" },
    sellWhat, sellPrice, h("span", {}, "VAL"),
    h("label", { class: "inline", title: "Featured listings are shown first" }, sellFeatured, " featured"),
    sellButton, sellHint);

  function goods() {
    const items = (store.get("inventory") || []).map((i) => ({ key: `item:${i.id}`, kind: i.kind,
      label: `${title(i.code)}${i.kind === "consumable" ? ` ×${i.uses}` : ""} (${i.kind})` }));
    const chars = store.get("characters") || [];
    const sellable = chars.length > 1 ? chars.filter((c) => !c.wounded && !c.in_combat) : [];
    return [...items, ...sellable.map((c) => ({ key: `character:${c.id}`, kind: "character",
      label: `${title(c.base)} rank ${c.rank}, Lv ${c.level} (character)` }))];
  }

  function renderSell() {
    const chosen = sellWhat.value;
    const options = goods();
    fill(sellWhat, options.length ? options.map((g) => h("option", { value: g.key, dataset: { kind: g.kind } }, g.label))
      : h("option", { value: "" }, "nothing to sell"));
    if (options.some((g) => g.key === chosen)) sellWhat.value = chosen;
    renderSellHint();
  }

  function minPrice(kind) {
    const s = settingsOf(app.catalog);
    return { character: s.market_min_price_character, equipment: s.market_min_price_equipment,
      consumable: s.market_min_price_consumable }[kind] ?? 1;
  }

  function renderSellHint() {
    const kind = sellWhat.selectedOptions[0]?.dataset.kind;
    if (!kind) return void (sellHint.textContent = "");
    const s = settingsOf(app.catalog);
    sellPrice.min = String(minPrice(kind));
    sellHint.textContent = `minimum ${minPrice(kind)} VAL · ${Math.round(s.market_tax * 100)}% tax on sale`
      + ` · featuring costs ${s.market_feature_cost} VAL`;
  }
  sellWhat.addEventListener("change", renderSellHint);

  sellForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [kind, id] = sellWhat.value.split(":");
    if (!id) return;
    const data = { price: Number(sellPrice.value), featured: sellFeatured.checked };
    data[kind === "character" ? "character" : "item"] = id;
    const reply = await app.act(sellButton, () => conn.call("market.list", data, { idem: true }),
      `Listed for ${fmtInt(data.price)} VAL.`);
    if (!reply) return;
    sellForm.reset();
    if (reply.view) upsertMine(reply.view);
    await Promise.all([app.refreshInventory(), kind === "character" ? app.refreshCharacters() : null]);
  });

  store.watch("sell-pick", (pick) => {
    if (!pick) return;
    renderSell();
    sellWhat.value = pick.item ? `item:${pick.item}` : `character:${pick.character}`;
    renderSellHint();
    sellPrice.focus();
    sellForm.scrollIntoView({ behavior: "smooth", block: "center" });
  });

  // --- my listings ----------------------------------------------------------------------------------------------
  const mineList = h("ul", { class: "my-listings", testid: "my-listings" });

  function renderMine() {
    fill(mineList, mine.length ? mine.map((l) => h("li", { testid: "my-listing", dataset: { listingId: l.id } },
      h("span", {}, `${goodsName(l)} — ${fmtInt(l.price)} VAL${l.featured ? " ★" : ""}`),
      h("button", { class: "link", testid: "listing-cancel",
        onclick: (e) => app.act(e.currentTarget, async () => {
          const r = await conn.call("market.cancel", { listing: l.id }, { idem: true });
          removeListing(l.id);
          store.patch("player", { val: r.val });
          await Promise.all([app.refreshInventory(), l.kind === "character" ? app.refreshCharacters() : null]);
        }, "Listing withdrawn.") }, "cancel")))
      : h("li", { class: "muted" }, "You have nothing for sale."));
  }

  function upsertMine(view) {
    mine = [view, ...mine.filter((l) => l.id !== view.id)];
    renderMine();
  }

  async function loadMine() {
    mine = (await conn.call("market.mine")).listings;
    renderMine();
  }

  // --- browse ---------------------------------------------------------------------------------------------------
  const fKind = h("select", { testid: "filter-kind" },
    h("option", { value: "" }, "any kind"), choices("market.browse", "kind").map((k) =>
      h("option", { value: k }, k)));
  const fRank = h("select", { testid: "filter-rank" }, h("option", { value: "" }, "any rank"),
    RANKS.map((r) => h("option", { value: r }, r)));
  const fName = h("input", { type: "search", placeholder: "name", testid: "filter-name" });
  const fMin = h("input", { type: "number", min: "0", placeholder: "VAL ≥", title: "lowest price",
    testid: "filter-price-min" });
  const fMax = h("input", { type: "number", min: "0", placeholder: "VAL ≤", title: "highest price",
    testid: "filter-price-max" });
  const fLevel = h("input", { type: "number", min: "0", max: "100", placeholder: "level ≥", title: "lowest level",
    testid: "filter-level" });
  const fSort = h("select", { testid: "filter-sort" },
    h("option", { value: "price" }, "cheapest"), h("option", { value: "newest" }, "newest"),
    h("option", { value: "level" }, "highest level"));
  const filterForm = h("form", { class: "filters", testid: "market-filters" },
    fKind, fRank, fName, fMin, fMax, fLevel, fSort, h("button", { type: "submit" }, "Search"));
  filterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    filters = readFilters();
    cursors = [];
    cursor = null;
    browse();
  });
  fSort.addEventListener("change", () => filterForm.requestSubmit());
  fKind.addEventListener("change", () => filterForm.requestSubmit());

  function readFilters() {
    const f = { sort: fSort.value };
    if (fKind.value) f.kind = fKind.value;
    if (fRank.value) f.rank = fRank.value;
    if (fName.value.trim()) f.name = fName.value.trim().toLowerCase();
    if (fMin.value !== "") f.price_min = Number(fMin.value);
    if (fMax.value !== "") f.price_max = Number(fMax.value);
    if (fLevel.value !== "") f.min_level = Number(fLevel.value);
    return f;
  }

  const rows = h("tbody", { testid: "market-listings" });
  const pageInfo = h("span", { class: "muted", testid: "market-page" });
  const prevButton = h("button", { class: "ghost", testid: "market-prev", onclick: () => {
    cursor = cursors.pop() || null;
    browse();
  } }, "‹ prev");
  const nextButton = h("button", { class: "ghost", testid: "market-next", onclick: () => {
    cursors.push(cursor || "");
    cursor = next;
    browse();
  } }, "next ›");

  async function browse() {
    try {
      const data = await conn.call("market.browse", { ...filters, ...(cursor ? { cursor } : {}), limit: PAGE });
      listings = data.listings;
      next = data.next;
      renderListings();
    } catch (err) {
      app.showError(err);
    }
  }

  function goodsName(l) {
    if (l.kind === "character") {
      const c = l.character || {};
      return `${title(l.code || c.base)} (rank ${l.rank}, Lv ${l.level ?? c.level})`;
    }
    return `${title(l.code)}${l.uses > 1 ? ` ×${l.uses}` : ""}`;
  }

  function listingRow(l) {
    const me = store.get("player")?.id;
    const own = l.seller_id === me;
    const action = own
      ? h("span", { class: "muted" }, "yours")
      : h("button", { class: "primary", testid: "listing-buy",
        onclick: (e) => app.act(e.currentTarget, async () => {
          const r = await conn.call("market.buy", { listing: l.id }, { idem: `buy-${l.id}` });
          store.patch("player", { val: r.val });
          removeListing(l.id);
          await Promise.all([app.refreshInventory(), l.kind === "character" ? app.refreshCharacters() : null]);
          return r;
        }, `Bought ${goodsName(l)} for ${fmtInt(l.price)} VAL.`) }, "Buy");
    return h("tr", { testid: "listing-row", class: l.featured ? "featured" : "",
      dataset: { listingId: l.id, code: l.code || "" } },
    h("td", {}, l.featured ? h("span", { class: "star", title: "featured" }, "★ ") : null,
      h("span", { testid: "listing-name" }, goodsName(l))),
    h("td", {}, l.kind),
    h("td", {}, l.rank ? h("span", { class: `rank rank-${l.rank}` }, l.rank) : "—"),
    h("td", {}, l.level || "—"),
    h("td", { class: "num", testid: "listing-price" }, fmtInt(l.price)),
    h("td", { testid: "listing-seller" }, l.seller),
    h("td", {}, action));
  }

  function renderListings() {
    fill(rows, listings.length ? listings.map(listingRow)
      : h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No listings match.")));
    prevButton.disabled = cursors.length === 0;
    nextButton.disabled = !next;
    pageInfo.textContent = `page ${cursors.length + 1}`;
  }

  // --- live feed ------------------------------------------------------------------------------------------------
  function matches(l) {
    const f = filters;
    if (f.kind && l.kind !== f.kind) return false;
    if (f.rank && l.rank !== f.rank) return false;
    if (f.price_min !== undefined && l.price < f.price_min) return false;
    if (f.price_max !== undefined && l.price > f.price_max) return false;
    if (f.min_level !== undefined && (l.level ?? 0) < f.min_level) return false;
    if (f.name && !(l.code || "").includes(f.name)) return false;
    return true;
  }

  function compare(a, b) {
    if (a.featured !== b.featured) return a.featured ? -1 : 1;
    const sort = filters.sort || "price";
    const key = { price: "price", newest: "created_at", level: "level" }[sort];
    const diff = ((a[key] ?? 0) - (b[key] ?? 0)) * (DESCENDING[sort] ? -1 : 1);
    return diff || (a.id < b.id ? -1 : 1);
  }

  function onListed(l) {
    if (l.seller_id === store.get("player")?.id) upsertMine(l);
    if (cursor || !matches(l) || listings.some((x) => x.id === l.id)) return; // only the first page follows live
    listings = [...listings, l].sort(compare);
    renderListings();
    const row = rows.querySelector(`[data-listing-id="${CSS.escape(l.id)}"]`);
    row?.classList.add("fresh");
  }

  function removeListing(id) {
    if (listings.some((l) => l.id === id)) {
      listings = listings.filter((l) => l.id !== id);
      renderListings();
    }
    if (mine.some((l) => l.id === id)) {
      mine = mine.filter((l) => l.id !== id);
      renderMine();
    }
  }

  // The page follows the market's digest (one frame a second, however busy the market), not its every event.
  const live = { "market.listed": onListed };
  for (const type of ["market.sold", "market.cancelled", "market.expired"]) {
    live[type] = (data) => removeListing(data.listing);
  }
  conn.on("market.digest", ({ events, skipped }) => {
    for (const event of events) live[event.type]?.(event.data);
    if (skipped) Promise.all([browse(), loadMine()]).catch((err) => app.showError(err)); // more than a frame: re-read
  });

  // Subscriptions belong to one connection: subscribe again after every (re)connect, then catch up.
  conn.on("status", ({ state }) => { if (state !== "online") root.dataset.live = "false"; });
  conn.on("ready", async () => {
    try {
      await conn.call("sub.add", { topic: "market:digest" });
      root.dataset.live = "true"; // following the feed (tests wait for this)
      await Promise.all([browse(), loadMine()]);
    } catch (err) {
      app.showError(err);
    }
  });

  fill(root,
    h("h2", {}, "Market"),
    h("h3", {}, "Sell"), sellForm,
    h("h3", {}, "Your listings"), mineList,
    h("h3", {}, "Browse"), filterForm,
    h("div", { class: "table-wrap" },
      h("table", { class: "listings" },
        h("thead", {}, h("tr", {}, ["Goods", "Kind", "Rank", "Level", "Price", "Seller", ""].map((t) =>
          h("th", {}, t)))), rows)),
    h("div", { class: "pager" }, prevButton, pageInfo, nextButton));
  renderListings();
  store.watch("inventory", renderSell);
  store.watch("characters", renderSell);
  store.watch("player", () => renderListings());
}
