// The sign-in: the token goes as JSON (the node refuses writes a form of another site could send,
// and a form of this page, with no referrer, names no origin), then on to the dashboard.

const form = document.querySelector("form");
const error = document.getElementById("login-error");

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
      ? `Too many wrong tokens: try again in ${response.headers.get("Retry-After") || "a few"} s.`
      : response.status === 401 ? "That token is not valid." : `The node answered ${response.status}.`;
  } catch (e) {
    error.textContent = "The node cannot be reached.";
  } finally {
    button.disabled = false;
  }
});
