// A tiny observable store: named values, and listeners called with the new value whenever one is set.

export class Store {
  constructor(initial = {}) {
    this.values = { ...initial };
    this.listeners = new Map();
  }

  get(key) {
    return this.values[key];
  }

  set(key, value) {
    this.values[key] = value;
    for (const fn of this.listeners.get(key) || []) fn(value);
  }

  /** Merge fields into an object value. */
  patch(key, fields) {
    this.set(key, { ...(this.values[key] || {}), ...fields });
  }

  /** Call fn now (if the value exists) and on every change. */
  watch(key, fn) {
    if (!this.listeners.has(key)) this.listeners.set(key, new Set());
    this.listeners.get(key).add(fn);
    if (this.values[key] !== undefined) fn(this.values[key]);
    return () => this.listeners.get(key).delete(fn);
  }
}
