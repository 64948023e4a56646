//! Outgoing webhooks: a JSON POST for each incident that starts and each that ends, to every hook
//! that wants its kind and is not in its quiet hours; the body is the hook's template (so it fits
//! a chat robot such as WeCom or DingTalk) or, without one, `{"event": …, "incident": {…}}`.
//!
//! Never blocking ingest: [`Webhooks::notify`] only queues (at most [`MAX_QUEUED`] a hook; past
//! that the newest are dropped and counted). One thread delivers, in order per hook; a failure
//! (no answer in 10 s, or a status other than 2xx) is tried again after 1 s, then 2, 4 … up to
//! 60 s, at most [`MAX_ATTEMPTS`] times, so a receiver that fails a while gets each notification
//! once. A hook's state (delivered, failing, its last error) is on `/api/nodes` and `/metrics`.
//!
//! With a queue folder ([`PendingFiles`]), what is not delivered survives a restart: each hook's
//! queue is saved by the delivery thread within [`SAVE_EVERY`] of a change (or once a delivery
//! under way ends, at most its timeout) and when the hooks stop, and read back at start, so the
//! notifications go out after the restart in the order they were made.
//!
//! The hooks file (`--webhooks FILE`, JSON):
//!
//! ```json
//! {"hooks": [{"name": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY",
//!             "template": "{\"msgtype\": \"text\", \"text\": {\"content\": \"{{event}}: {{kind}} {{node}}/{{subject}} {{message}}\"}}",
//!             "kinds": ["camera_offline", "node_offline"], "quiet_hours": "22:00-07:00", "utc_offset": "+08:00"}]}
//! ```
//!
//! In a template, `{{event}}` (`started`, `ended`, `event` for a one-off), `{{id}}`, `{{kind}}`,
//! `{{site}}`, `{{node}}`, `{{subject}}`, `{{building}}`, `{{message}}`, `{{started}}`, `{{ended}}`,
//! `{{duration_s}}` are replaced by their values escaped for a JSON string. Quiet hours are local
//! (`utc_offset`, default `+08:00`); a notification due in them is not sent.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::state::Incident;
use super::webhook_queue::{Pending, PendingFiles};

/// Notifications waiting per hook.
pub const MAX_QUEUED: usize = 1_000;
/// Tries of one notification before it is given up (and counted).
pub const MAX_ATTEMPTS: u32 = 10;
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the delivery thread looks for work, and saves the queues that changed.
pub const SAVE_EVERY: Duration = Duration::from_millis(100);

/// One hook as the file describes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    pub name: String,
    /// `http://…` or `https://…`.
    pub url: String,
    #[serde(default)]
    pub template: Option<String>,
    /// Only these kinds (all when absent).
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// `HH:MM-HH:MM`, local; may span midnight.
    #[serde(default)]
    pub quiet_hours: Option<String>,
    /// `+HH:MM` or `-HH:MM`.
    #[serde(default)]
    pub utc_offset: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksFile {
    hooks: Vec<HookConfig>,
}

/// Reads and checks a hooks file; the error names the file and the hook.
pub fn load(path: &std::path::Path) -> Result<Vec<HookConfig>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: HooksFile = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    for (i, hook) in file.hooks.iter().enumerate() {
        // Its name names its saved queue.
        if file.hooks[..i].iter().any(|h| h.name == hook.name) {
            return Err(format!("{}: two hooks are named {:?}", path.display(), hook.name));
        }
        let at = |why: String| format!("{}: hook {:?}: {why}", path.display(), hook.name);
        Target::parse(&hook.url).map_err(at)?;
        quiet_window(hook).map_err(at)?;
        if let Some(template) = &hook.template {
            let filled = fill(template, &sample());
            serde_json::from_str::<Value>(&filled).map_err(|e| at(format!("template: not JSON once filled: {e}")))?;
        }
    }
    Ok(file.hooks)
}

/// Where a hook posts.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = match url.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            _ => return Err("url: http://… or https://…".into()),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') || authority.is_empty() {
            return Err("url: a host (no user or password in it)".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h.to_string(), p.parse().map_err(|_| "url: a bad port".to_string())?)
            }
            _ => (authority.to_string(), if tls { 443 } else { 80 }),
        };
        let path = if path.is_empty() { "/".to_string() } else { path.to_string() };
        Ok(Self { tls, host: host.trim_matches(['[', ']']).to_string(), port, path })
    }
}

/// The quiet window in minutes of the UTC day, `(start, end)`, if any.
fn quiet_window(hook: &HookConfig) -> Result<Option<(i64, i64)>, String> {
    let Some(hours) = &hook.quiet_hours else { return Ok(None) };
    let minutes = |t: &str| -> Option<i64> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
        ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
    };
    let offset = match hook.utc_offset.as_deref().unwrap_or("+08:00") {
        o if o.starts_with(['+', '-']) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * minutes(&o[1..]).ok_or("utc_offset: +HH:MM or -HH:MM")?
        }
        _ => return Err("utc_offset: +HH:MM or -HH:MM".into()),
    };
    let (from, to) = hours.split_once('-').ok_or("quiet_hours: HH:MM-HH:MM")?;
    let (from, to) = (minutes(from).ok_or("quiet_hours: HH:MM-HH:MM")?, minutes(to).ok_or("quiet_hours: HH:MM-HH:MM")?);
    Ok(Some(((from - offset).rem_euclid(1440), (to - offset).rem_euclid(1440))))
}

/// Whether `unix_s` falls in the window `(start, end)` of UTC minutes (spanning midnight if
/// `end < start`).
fn in_window((start, end): (i64, i64), unix_s: i64) -> bool {
    let minute = unix_s.rem_euclid(86_400) / 60;
    if start <= end { (start..end).contains(&minute) } else { minute >= start || minute < end }
}

/// The values a template may name.
fn values(event: &str, incident: &Incident, now_ms: i64) -> Vec<(&'static str, String)> {
    let until = incident.ended.as_ref().map_or(now_ms, |e| e.at_ms);
    vec![
        ("event", event.to_string()),
        ("id", incident.id.to_string()),
        ("kind", incident.kind.clone()),
        ("site", incident.site.clone()),
        ("node", incident.node.clone()),
        ("subject", incident.subject.clone()),
        ("building", incident.building.clone().unwrap_or_default()),
        ("message", incident.message.clone()),
        ("started", super::time_text(incident.started_ms)),
        ("ended", incident.ended.as_ref().map(|e| super::time_text(e.at_ms)).unwrap_or_default()),
        ("duration_s", ((until - incident.started_ms).max(0) / 1000).to_string()),
    ]
}

fn sample() -> Vec<(&'static str, String)> {
    let incident = Incident {
        id: 1,
        site: "s".into(),
        node: "n".into(),
        seq: 1,
        kind: "camera_offline".into(),
        subject: "c \"x\"".into(),
        building: None,
        message: "m\n".into(),
        started_ms: 0,
        ended: None,
    };
    values("started", &incident, 0)
}

/// `template` with each `{{name}}` replaced by its value escaped for a JSON string.
fn fill(template: &str, values: &[(&'static str, String)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        let escaped = serde_json::to_string(value).unwrap_or_default();
        out = out.replace(&format!("{{{{{name}}}}}"), &escaped[1..escaped.len() - 1]);
    }
    out
}

/// A hook's state, as `/api/nodes` shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HookState {
    pub name: String,
    pub delivered: u64,
    pub failed_attempts: u64,
    /// Given up after [`MAX_ATTEMPTS`], or dropped from a full queue.
    pub dropped: u64,
    pub queued: usize,
    /// Whether its last attempt failed.
    pub failing: bool,
    pub last_error: Option<String>,
}

struct Hook {
    config: HookConfig,
    target: Target,
    quiet: Option<(i64, i64)>,
    queue: VecDeque<(String, u32)>,
    /// The queue changed since it was saved.
    dirty: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    state: HookState,
}

/// The hooks and their delivery thread; dropping it stops the thread (what is queued is lost).
pub struct Webhooks {
    hooks: Arc<Mutex<Vec<Hook>>>,
    files: Option<PendingFiles>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhooks {
    /// Starts delivering to the hooks `configs`; with `files`, first what they had not delivered
    /// before (see the module).
    pub fn start(configs: Vec<HookConfig>, files: Option<PendingFiles>) -> std::io::Result<Self> {
        let hooks: Vec<Hook> = configs
            .into_iter()
            .filter_map(|config| {
                let target = Target::parse(&config.url).ok()?;
                let quiet = quiet_window(&config).ok()?;
                let state = HookState { name: config.name.clone(), ..HookState::default() };
                let saved = files.as_ref().map(|f| f.load(&config.name, MAX_QUEUED)).unwrap_or_default();
                Some(Hook {
                    config,
                    target,
                    quiet,
                    queue: saved.into_iter().map(|p| (p.body, p.attempts)).collect(),
                    dirty: false,
                    retry_at: None,
                    backoff: Duration::from_secs(1),
                    state,
                })
            })
            .collect();
        let hooks = Arc::new(Mutex::new(hooks));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (hooks, stop, files) = (Arc::clone(&hooks), Arc::clone(&stop), files.clone());
            std::thread::Builder::new()
                .name("lintel-webhooks".into())
                .spawn(move || deliver(&hooks, &stop, files.as_ref()))?
        };
        Ok(Self { hooks, files, stop, thread: Some(thread) })
    }

    /// Queues the notification of `incident` (`event`: `started`, `ended` or `event`) for every
    /// hook that wants it now. Never waits on a receiver.
    pub fn notify(&self, event: &str, incident: &Incident, now_ms: i64) {
        let values = values(event, incident, now_ms);
        let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        for hook in hooks.iter_mut() {
            if hook.config.kinds.as_ref().is_some_and(|k| !k.contains(&incident.kind)) {
                continue;
            }
            if hook.quiet.is_some_and(|w| in_window(w, now_ms.div_euclid(1000))) {
                continue;
            }
            if hook.queue.len() >= MAX_QUEUED {
                hook.state.dropped += 1;
                continue;
            }
            let body = match &hook.config.template {
                Some(template) => fill(template, &values),
                None => json!({"event": event, "incident": incident}).to_string(),
            };
            hook.queue.push_back((body, 0));
            hook.dirty = true;
        }
    }

    /// Every hook's state.
    pub fn states(&self) -> Vec<HookState> {
        let hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
        hooks.iter().map(|h| HookState { queued: h.queue.len(), ..h.state.clone() }).collect()
    }
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(files) = &self.files {
            save_changed(&self.hooks, files);
        }
    }
}

/// Saves the queues that changed; off the lock (a snapshot is written). A failed save is said in
/// the log and tried again at the next change.
fn save_changed(hooks: &Mutex<Vec<Hook>>, files: &PendingFiles) {
    let changed: Vec<(String, Vec<Pending>)> = {
        let mut hooks = hooks.lock().unwrap_or_else(|p| p.into_inner());
        hooks
            .iter_mut()
            .filter_map(|h| std::mem::take(&mut h.dirty).then_some(&*h))
            .map(|h| {
                let pending =
                    h.queue.iter().map(|(body, attempts)| Pending { body: body.clone(), attempts: *attempts });
                (h.config.name.clone(), pending.collect())
            })
            .collect()
    };
    for (name, pending) in changed {
        if let Err(error) = files.save(&name, &pending) {
            tracing::error!(hook = %name, "{error}; a restart now would lose its undelivered notifications");
        }
    }
}

fn deliver(hooks: &Mutex<Vec<Hook>>, stop: &AtomicBool, files: Option<&PendingFiles>) {
    while !stop.load(Ordering::SeqCst) {
        // One thread writes the files, so a newer snapshot is never overwritten by an older one.
        if let Some(files) = files {
            save_changed(hooks, files);
        }
        // Take one due notification, send it without the lock held.
        let due = {
            let mut hooks = hooks.lock().unwrap_or_else(|p| p.into_inner());
            hooks.iter_mut().enumerate().find_map(|(i, h)| {
                let ready = h.retry_at.is_none_or(|at| Instant::now() >= at);
                (ready && !h.queue.is_empty()).then(|| (i, h.target.clone(), h.queue[0].0.clone()))
            })
        };
        let Some((index, target, body)) = due else {
            std::thread::sleep(SAVE_EVERY);
            continue;
        };
        let result = post(&target, &body);
        let mut hooks = hooks.lock().unwrap_or_else(|p| p.into_inner());
        let Some(hook) = hooks.get_mut(index) else { continue };
        hook.dirty = true;
        match result {
            Ok(()) => {
                hook.queue.pop_front();
                hook.state.delivered += 1;
                hook.state.failing = false;
                hook.retry_at = None;
                hook.backoff = Duration::from_secs(1);
            }
            Err(error) => {
                tracing::warn!(hook = %hook.config.name, "webhook: {error}; trying again in {:?}", hook.backoff);
                hook.state.failed_attempts += 1;
                hook.state.failing = true;
                hook.state.last_error = Some(error);
                if let Some(front) = hook.queue.front_mut() {
                    front.1 += 1;
                    if front.1 >= MAX_ATTEMPTS {
                        hook.queue.pop_front();
                        hook.state.dropped += 1;
                    }
                }
                hook.retry_at = Some(Instant::now() + hook.backoff);
                hook.backoff = (hook.backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// One POST; `Ok` on a 2xx answer. The error never holds the URL's query (it may hold a key).
fn post(target: &Target, body: &str) -> Result<(), String> {
    let address = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", target.host))?
        .next()
        .ok_or_else(|| format!("{}: no address", target.host))?;
    let stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| format!("{}: {e}", target.host))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: lintel-city\r\n\r\n{body}",
        target.path,
        target.host,
        body.len()
    );
    let mut answer = Vec::new();
    if target.tls {
        let mut tls = tls_stream(target, stream)?;
        tls.write_all(request.as_bytes()).map_err(|e| format!("{}: {e}", target.host))?;
        let _ = tls.take(4096).read_to_end(&mut answer);
    } else {
        let mut stream = stream;
        stream.write_all(request.as_bytes()).map_err(|e| format!("{}: {e}", target.host))?;
        let _ = stream.take(4096).read_to_end(&mut answer);
    }
    let head = String::from_utf8_lossy(&answer);
    let status = head.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) => Ok(()),
        Some(code) => Err(format!("{} answered {code}", target.host)),
        None => Err(format!("{}: no HTTP answer", target.host)),
    }
}

fn tls_stream(
    target: &Target,
    stream: TcpStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    use std::sync::OnceLock;
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()?;
    let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|e| e.to_string())?;
    let connection = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    Ok(rustls::StreamOwned::new(connection, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_templates_and_quiet_hours() {
        let t = Target::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "qyapi.weixin.qq.com", 443, "/cgi-bin/webhook/send?key=K")
        );
        assert_eq!(Target::parse("http://127.0.0.1:9000").unwrap().path, "/");
        assert!(Target::parse("ftp://x").is_err() && Target::parse("http://u:p@x/").is_err());
        let filled = fill(r#"{"text": "{{kind}} {{subject}} {{message}}"}"#, &sample());
        let value: Value = serde_json::from_str(&filled).unwrap();
        assert_eq!(value["text"], "camera_offline c \"x\" m\n");
        let hook = |hours: &str| HookConfig {
            name: "h".into(),
            url: "http://x/".into(),
            template: None,
            kinds: None,
            quiet_hours: Some(hours.into()),
            utc_offset: Some("+08:00".into()),
        };
        // 22:00–07:00 in China is 14:00–23:00 UTC.
        let window = quiet_window(&hook("22:00-07:00")).unwrap().unwrap();
        assert_eq!(window, (14 * 60, 23 * 60));
        assert!(in_window(window, 15 * 3600) && !in_window(window, 23 * 3600 + 60) && !in_window(window, 3600));
        let across = quiet_window(&hook("06:00-10:00")).unwrap().unwrap(); // 22:00–02:00 UTC
        assert!(in_window(across, 23 * 3600) && in_window(across, 3600) && !in_window(across, 3 * 3600));
        assert!(quiet_window(&hook("25:00-07:00")).is_err());
    }
}
