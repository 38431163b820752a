// Log in or create an account (POST /auth/register then /auth/login).

import { describeError, h } from "../dom.js";

export function mountAuth(root, app) {
  const message = h("p", { class: "auth-message", testid: "auth-message" });
  const error = h("p", { class: "form-error", testid: "auth-error", role: "alert" });

  const loginName = h("input", { name: "username", autocomplete: "username", required: true,
    testid: "login-username" });
  const loginPass = h("input", { name: "password", type: "password", autocomplete: "current-password",
    required: true, testid: "login-password" });
  const loginForm = h("form", { class: "card auth-card", testid: "login-form" },
    h("h2", {}, "Log in"),
    h("label", {}, "Name", loginName),
    h("label", {}, "Password", loginPass),
    h("button", { type: "submit", class: "primary", testid: "login-submit" }, "Log in"));

  const regName = h("input", { name: "username", autocomplete: "username", required: true, pattern: "[a-z0-9_]{3,24}",
    title: "3 to 24 of a-z, 0-9 and _", testid: "register-username" });
  const regEmail = h("input", { name: "email", type: "email", autocomplete: "email", required: true,
    testid: "register-email" });
  const regPass = h("input", { name: "password", type: "password", autocomplete: "new-password", required: true,
    minlength: "10", testid: "register-password" });
  const registerForm = h("form", { class: "card auth-card", testid: "register-form" },
    h("h2", {}, "Create an account"),
    h("label", {}, "Name ", h("small", { class: "muted" }, "(a-z, 0-9, _)"), regName),
    h("label", {}, "Email", regEmail),
    h("label", {}, "Password ", h("small", { class: "muted" }, "(8+ characters)"), regPass),
    h("button", { type: "submit", class: "primary", testid: "register-submit" }, "Create account and play"));

  async function submit(event, form, work) {
    event.preventDefault();
    error.textContent = "";
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await work();
      form.reset();
      app.enterGame();
    } catch (err) {
      error.textContent = err.field ? `${describeError(err)} (${err.field})` : describeError(err);
    } finally {
      button.disabled = false;
    }
  }

  loginForm.addEventListener("submit", (e) =>
    submit(e, loginForm, () => app.auth.login(loginName.value.trim(), loginPass.value)));
  registerForm.addEventListener("submit", (e) =>
    submit(e, registerForm, () => app.auth.register(regName.value.trim(), regEmail.value.trim(), regPass.value)));

  root.append(
    h("div", { class: "auth-intro" },
      h("h2", {}, "Welcome to Valgame"),
      h("p", {}, "Fight dungeons, level up your characters and trade on a live market."),
      message, error),
    h("div", { class: "auth-forms" }, loginForm, registerForm));

  app.store.watch("auth-message", (text) => { message.textContent = text || ""; });
}
