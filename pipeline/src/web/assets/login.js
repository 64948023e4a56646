// The sign-in: the token goes as JSON (the node refuses writes a form of another site could send,
// and a form of this page, with no referrer, names no origin), then on to the dashboard.

import { t, languageSwitch } from "/i18n/i18n.js";

const form = document.querySelector("form");
const error = document.getElementById("login-error");
languageSwitch(document.getElementById("language"));

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  error.textContent = "";
  try {
    const response = await fetch("/login", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: form.token.value }),
    });
    if (response.ok) { location.href = "/"; return; }
    error.textContent = response.status === 429
      ? t("login.too_many", { seconds: response.headers.get("Retry-After") || "…" })
      : response.status === 401 ? t("login.wrong") : t("login.status", { status: response.status });
  } catch (e) {
    error.textContent = t("login.unreachable");
  } finally {
    button.disabled = false;
  }
});
