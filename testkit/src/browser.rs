//! A real browser for the page tests: Debian's headless `chromium`, driven through `chromedriver`
//! (W3C WebDriver over HTTP on loopback), and a plain HTTP client for the API checks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The W3C WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One HTTP/1.1 exchange on loopback: `(status, body)`.
pub fn http(method: &str, port: u16, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
    let answer = request(method, port, path, headers, body);
    (answer.status, String::from_utf8_lossy(&answer.body).into_owned())
}

/// An HTTP answer: status, head (lower-cased) and body bytes.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
    }
}

/// One HTTP/1.1 exchange on loopback.
pub fn request(method: &str, port: u16, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("127.0.0.1:{port}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    // Read the head, then the body by its length: chromedriver keeps connections open whatever
    // the request asks, so reading to EOF would wait for the read timeout.
    let mut reader = std::io::BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0);
        if n == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status =
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad answer to {path}: {head:?}"));
    let lower = head.to_ascii_lowercase();
    let length =
        lower.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).unwrap_or_else(|e| panic!("{path}: short body: {e}"));
        }
        None => {
            let _ = reader.read_to_end(&mut body);
        }
    }
    let body = if lower.contains("transfer-encoding: chunked") {
        unchunk(&String::from_utf8_lossy(&body)).into_bytes()
    } else {
        body
    };
    Answer { status, head: lower, body }
}

/// `GET path` with an optional bearer token.
pub fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
    http("GET", port, path, &headers, None)
}

fn unchunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// A WebDriver command refused: whether for a stale element, and the whole answer as a line.
#[derive(Debug)]
struct Refusal {
    stale: bool,
    line: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

/// The Shift key, for [`Browser::press_keys`]: the next key is pressed with it held.
pub const SHIFT: &str = "\u{E008}";

/// A headless Chromium session, ended (and its driver stopped) when dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A browser whose window is `width`×`height`, reading British English.
    pub fn start(width: u32, height: u32) -> Self {
        Self::start_in(width, height, "en-GB")
    }

    /// A browser whose window is `width`×`height`, whose person reads `language` (a BCP 47 tag:
    /// its `Accept-Language` and `navigator.language`).
    pub fn start_in(width: u32, height: u32, language: &str) -> Self {
        let port = crate::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run scripts/setup (Debian's chromium and chromium-driver)");
        let up = crate::wait_until(Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "chromedriver did not start listening on port {port}");
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-extensions", format!("--lang={language}"),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ], "prefs": {"intl.accept_languages": language}}}}});
        let mut browser = Self { driver, port, session: String::new(), _profile: profile };
        let answer = browser.call("POST", "/session", Some(capabilities));
        browser.session = answer["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_string();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body).unwrap_or_else(|refusal| panic!("{refusal}"))
    }

    /// One WebDriver command: its value, or the refusal as a line.
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Refusal> {
        let body = match method {
            "GET" | "DELETE" => None,
            _ => Some(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let (status, text) = http(method, self.port, path, &[("Content-Type", "application/json")], body.as_deref());
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("WebDriver {path}: {text}"));
        if status != 200 {
            let stale = value["value"]["error"] == "stale element reference";
            return Err(Refusal { stale, line: format!("WebDriver {method} {path}: {status} {value}") });
        }
        Ok(value["value"].clone())
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Runs `act` on the first element matching `css`. The pages re-render their rows as news
    /// comes in, so an element found a moment ago may be gone: then it is found again, as a
    /// person would look again, up to five times.
    fn on_element(&self, css: &str, act: impl Fn(&str) -> Result<Value, Refusal>) -> Value {
        let mut tries = 0;
        loop {
            let element = self.find(css).unwrap_or_else(|| panic!("nothing matches {css}"));
            match act(&element) {
                Ok(value) => return value,
                Err(refusal) if refusal.stale && tries < 5 => tries += 1,
                Err(refusal) => panic!("{refusal}"),
            }
        }
    }

    fn element_call(&self, method: &str, element: &str, what: &str, body: Option<Value>) -> Result<Value, Refusal> {
        self.try_call(method, &format!("/session/{}/element/{element}/{what}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.session_call("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let found = self.session_call("POST", "/elements", Some(json!({"using": "css selector", "value": css})));
        found.as_array()?.first().map(|e| e[ELEMENT].as_str().unwrap().to_string())
    }

    /// The text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Option<String> {
        self.execute("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", json!([css]))
            .as_str()
            .map(str::to_string)
    }

    pub fn click(&self, css: &str) {
        self.on_element(css, |element| self.element_call("POST", element, "click", Some(json!({}))));
    }

    /// Clicks the first element matching `css` at (`fx`, `fy`), fractions of its width and
    /// height from its top left corner: a real pointer click, as a person makes it.
    pub fn click_at(&self, css: &str, fx: f64, fy: f64) {
        self.on_element(css, |element| {
            let rect = self.element_call("GET", element, "rect", None)?;
            let (width, height) = (rect["width"].as_f64().unwrap(), rect["height"].as_f64().unwrap());
            // Offsets are from the element's centre, in whole CSS pixels.
            let x = ((fx - 0.5) * width).round() as i64;
            let y = ((fy - 0.5) * height).round() as i64;
            let origin = json!({ ELEMENT: element });
            self.try_call(
                "POST",
                &format!("/session/{}/actions", self.session),
                Some(json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                    {"type": "pointerMove", "origin": origin, "x": x, "y": y, "duration": 0},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerUp", "button": 0},
                ]}]})),
            )
        });
    }

    /// Empties a text field.
    pub fn clear(&self, css: &str) {
        self.on_element(css, |element| self.element_call("POST", element, "clear", Some(json!({}))));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, |element| self.element_call("POST", element, "value", Some(json!({ "text": text }))));
    }

    /// Presses `keys` one after the other on whatever has the focus, as a person at the keyboard
    /// does: WebDriver key codes (`"\u{E004}"` Tab, `"\u{E007}"` Enter, `"\u{E012}"`–`"\u{E015}"`
    /// the arrows left, up, right, down) or characters; a key given with [`SHIFT`] before it is
    /// pressed with Shift held.
    pub fn press_keys(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        let mut shifted = false;
        for key in keys {
            if *key == SHIFT {
                shifted = true;
                continue;
            }
            if shifted {
                actions.push(json!({"type": "keyDown", "value": SHIFT}));
            }
            actions.push(json!({"type": "keyDown", "value": key}));
            actions.push(json!({"type": "keyUp", "value": key}));
            if shifted {
                actions.push(json!({"type": "keyUp", "value": SHIFT}));
            }
            shifted = false;
        }
        self.session_call(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// What is wrong with the page as shown, one line each: a horizontal scroll (the page is wider
    /// than the window), text that overflows its box, text under WCAG AA contrast against its
    /// background (4.5:1; 3:1 for large text), and text that looks like a catalogue key or a
    /// template's `{{key}}` (a text missing from a catalogue). Hidden elements are not checked.
    pub fn page_problems(&self) -> Vec<String> {
        let found = self.execute(PAGE_PROBLEMS, json!([]));
        found.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
    }

    /// Saves a PNG of the window at `path`, for a person to look at.
    pub fn screenshot(&self, path: &Path) {
        use base64_png::decode;
        let data = self.session_call("GET", "/screenshot", None);
        std::fs::write(path, decode(data.as_str().unwrap())).unwrap();
    }
}

/// The checks of [`Browser::page_problems`], run in the page.
const PAGE_PROBLEMS: &str = r#"
const problems = [];
const root = document.documentElement;
if (root.scrollWidth > window.innerWidth + 1) {
  problems.push(`horizontal scroll: the page is ${root.scrollWidth} px wide in a ${window.innerWidth} px window`);
}
const name = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}${el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : ""}`;
const rgba = (text) => {
  const m = text.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(/[,\s/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const luminance = ([r, g, b]) => {
  const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
};
const over = (top, bottom) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
};
// The colour behind an element: its own and its ancestors' backgrounds, composed; an image or
// a picture behind it cannot be judged and is skipped.
const background = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const style = getComputedStyle(e);
    if (style.backgroundImage && style.backgroundImage !== "none") return null;
    const c = rgba(style.backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let colour = [255, 255, 255, 1];
  for (const layer of layers.reverse()) colour = over(layer, colour);
  return colour;
};
const KEY = /^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+$/;
for (const el of document.body.querySelectorAll("*")) {
  const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim()).join(" ");
  if (!own) continue;
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  if (style.visibility === "hidden" || style.display === "none" || rect.width === 0 || rect.height === 0 || el.closest("[hidden],svg,script,style,noscript")) continue;
  if (KEY.test(own) || own.includes("{{")) problems.push(`${name(el)}: shows ${JSON.stringify(own)}, a text missing from the catalogue`);
  if (style.overflowX === "visible" && style.textOverflow !== "ellipsis" && el.scrollWidth > el.clientWidth + 2 && el.clientWidth > 0 && style.display !== "inline") {
    problems.push(`${name(el)}: text ${JSON.stringify(own.slice(0, 40))} overflows its box (${el.scrollWidth} px in ${el.clientWidth} px)`);
  }
  const fg = rgba(style.color), bg = background(el);
  if (!fg || !bg) continue;
  const opacity = [...function* () { for (let e = el; e; e = e.parentElement) yield Number(getComputedStyle(e).opacity); }()].reduce((a, b) => a * b, 1);
  const shown = over([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
  const [l1, l2] = [luminance(shown), luminance(bg)].sort((a, b) => b - a);
  const ratio = (l1 + 0.05) / (l2 + 0.05);
  const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) problems.push(`${name(el)}: ${JSON.stringify(own.slice(0, 40))} at contrast ${ratio.toFixed(2)}:1, under ${needed}:1`);
}
return problems;
"#;

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http("DELETE", self.port, &format!("/session/{}", self.session), &[], None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Base64 (standard alphabet) decoding of WebDriver's screenshots, without another crate.
mod base64_png {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        };
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let (mut buffer, mut bits) = (0u32, 0);
        for sextet in text.bytes().filter_map(value) {
            buffer = (buffer << 6) | u32::from(sextet);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
            }
        }
        out
    }
}
