// The pages' texts and times: the catalogue of the page's language (the server chose it and wrote
// it in <html lang>), texts by key with {name} placeholders, and times in the site's time zone
// (wire messages stay UTC; a person reads local time). Served at /i18n/i18n.js by lintel-http.

const LANGUAGES = [["zh-CN", "简体中文"], ["en", "English"]];
const COOKIE = "lintel_lang";

const lang = document.documentElement.lang || "en";
let catalogue = {};
try {
  // Beside this script: /i18n/ for most pages, /console/i18n/ for a page set of its own.
  const answer = await fetch(new URL(`${encodeURIComponent(lang)}.json`, import.meta.url), { cache: "no-cache" });
  if (answer.ok) catalogue = await answer.json();
} catch (_) {
  // Without the catalogue a page shows its keys: ugly, never wrong, and the tests catch it.
}

// The page's language code (`en`, `zh-CN`).
export function language() {
  return lang;
}

// The text of `key`, its {name} placeholders filled from `values`.
export function t(key, values = {}) {
  const text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// A text the server sent as a code (`{ code, params }`: a key of the catalogue and its values;
// the English beside it is for scripts and logs), in the page's language; `fallback` when the
// answer has no code.
export function said(answer, fallback = "") {
  if (!answer || typeof answer.code !== "string" || !answer.code) return fallback;
  // Numbers as a person reads them: 8.68, not 8.680556.
  const shown = (value) => (typeof value === "number" ? formatNumber(value, { maximumFractionDigits: 2, useGrouping: false }) : value);
  const params = Object.fromEntries(Object.entries(answer.params || {}).map(([name, value]) => [name, shown(value)]));
  return t(answer.code, params);
}

// Texts of elements marked `data-i18n="key"` (and `data-i18n-title`, `-placeholder`, `-aria-label`)
// under `root`, for markup a script adds after the server rendered the page.
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attribute of ["title", "placeholder", "aria-label"]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      el.setAttribute(attribute, t(el.getAttribute(`data-i18n-${attribute}`)));
    }
  }
}

// A <select> that switches the language: the choice is kept in a cookie for a year and the page
// reloads in it.
export function languageSwitch(select) {
  select.replaceChildren(...LANGUAGES.map(([code, name]) => {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = name;
    option.selected = code === lang;
    return option;
  }));
  select.addEventListener("change", () => {
    document.cookie = `${COOKIE}=${encodeURIComponent(select.value)}; path=/; max-age=31536000; samesite=strict`;
    location.reload();
  });
}

// The site's time zone (IANA name, e.g. Asia/Shanghai); an unknown one leaves the browser's.
let timeZone;
export function setTimeZone(name) {
  try {
    new Intl.DateTimeFormat(lang, { timeZone: name });
    timeZone = name;
  } catch (_) {
    timeZone = undefined;
  }
}

export function currentTimeZone() {
  return timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone;
}

function asDate(when) {
  if (when instanceof Date) return when;
  // Unix seconds, or RFC 3339 text.
  return typeof when === "number" ? new Date(when * 1000) : new Date(when);
}

// `when` (a Date, Unix seconds or RFC 3339) as date and time in the site's zone, on a 24-hour
// clock in every language (an English browser would otherwise write "12:10 AM").
export function formatDateTime(when, options = { dateStyle: "medium", timeStyle: "short" }) {
  return new Intl.DateTimeFormat(lang, { hourCycle: "h23", ...options, timeZone }).format(asDate(when));
}

// `when` as a time of day in the site's zone (hours and minutes, seconds with `seconds`).
export function formatTime(when, seconds = false) {
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone };
  if (seconds) options.second = "2-digit";
  return new Intl.DateTimeFormat(lang, options).format(asDate(when));
}

// A number as the page's language writes it.
export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(lang, options).format(value);
}
