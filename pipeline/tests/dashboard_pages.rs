//! The operators' dashboard and the login page as their readers see them, in real Chromium: both
//! languages at a laptop, a wall screen and a phone; a camera that stops reads offline and its
//! building incomplete; its outage is one incident with a duration; an acknowledgement needs a
//! name. Screenshots go to the test's target tmp dir, for a person to look at.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::browser::{Browser, OPERATOR, PagesNode, get, http};
use common::{Broker, Subscriber, free_port, pets_site, scratch_dir, video, wait_until};
use serde_json::{Value, json};

const GRACE_S: u64 = 4;
const SIZES: [(u32, u32); 3] = [(1280, 720), (1920, 1080), (390, 844)];
const LANGUAGES: [&str; 2] = ["zh-CN", "en"];
/// The building's name in the site file, shown as written.
const HALL: &str = "丽水社区活动中心";

fn shot(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn api(web: u16, path: &str) -> Value {
    let (status, body) = get(web, path, Some(OPERATOR));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not JSON: {body}"))
}

/// The clip as an RTSP camera on a port of our choosing, so it can stop and come back.
struct Camera(Child);

impl Camera {
    fn start(port: u16) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_lintel-rtsp-server"))
            .arg(video())
            .args(["--port", &port.to_string(), "--path", "/walkway"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert!(ready.starts_with("ready "), "rtsp server said {ready:?}");
        Self(child)
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A browser in `language` at `width`×`height`, signed in to the node on `web`, on the dashboard.
fn signed_in(web: u16, width: u32, height: u32, language: &str) -> Browser {
    let browser = Browser::start_in(width, height, language);
    browser.goto(&format!("http://127.0.0.1:{web}/login"));
    assert!(wait_until(Duration::from_secs(10), || browser.find("form input[name=token]").is_some()));
    browser.type_into("input[name=token]", OPERATOR);
    browser.click("form button[type=submit]");
    let up = wait_until(Duration::from_secs(20), || {
        browser.find("[data-building=hall]").is_some() && browser.find("tr[data-camera=walkway]").is_some()
    });
    assert!(up, "{language} {width}×{height}: no dashboard after signing in");
    browser
}

fn problems_of(browser: &Browser, what: &str) -> Vec<String> {
    browser.page_problems().into_iter().map(|p| format!("{what}: {p}")).collect()
}

/// `unix` as hh:mm:ss at UTC+8 (Asia/Shanghai keeps no summer time).
fn shanghai_time(unix: i64) -> String {
    let s = (unix + 8 * 3600).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[test]
fn the_dashboard_and_login_read_in_chinese_and_english_at_three_sizes_with_incidents_and_named_acknowledgements() {
    let dir = scratch_dir("dashboard-pages");
    let broker = Broker::start(&dir);
    let counts = Subscriber::start(broker.port, "lintel/v1/pets/building/hall/counts");
    let camera_port = free_port();
    let camera = Camera::start(camera_port);
    let site = pets_site(&dir, &format!("rtsp://127.0.0.1:{camera_port}/walkway"));
    let text = std::fs::read_to_string(&site).unwrap().replace("name = \"Campus hall\"", &format!("name = \"{HALL}\""));
    std::fs::write(&site, text).unwrap();
    let web = free_port();
    let node = PagesNode::start(&site, &dir, broker.port, web, &["--offline-grace-s", &GRACE_S.to_string()]);
    assert_eq!(api(web, "/api/site")["time_zone"], "Asia/Shanghai");

    // Live and counting, in Chinese: the building's name as written, times at +08:00.
    let zh = signed_in(web, 1280, 720, "zh-CN");
    let live = wait_until(Duration::from_secs(60), || {
        zh.text("tr[data-camera=walkway] .health").is_some_and(|h| h == "正常")
            && api(web, "/api/overview")["buildings"][0]["last_interval"].is_object()
    });
    assert!(live, "the camera never read 正常: {:?}", zh.text("tr[data-camera=walkway]"));
    let card = zh.text("[data-building=hall]").unwrap_or_default();
    assert!(card.contains(HALL) && card.contains("在场人数") && card.contains("上一时段"), "{card}");
    let last = &api(web, "/api/overview")["buildings"][0]["last_interval"];
    let (start, end) = (last["start"].as_i64().unwrap(), last["end"].as_i64().unwrap());
    let shown = wait_until(Duration::from_secs(10), || {
        zh.text("[data-building=hall] .flows").is_some_and(|f| {
            // The interval shown may be a newer one: any closed within the last minute will do.
            (0..30).any(|k| f.contains(&format!("{}–{}", shanghai_time(start + 2 * k), shanghai_time(end + 2 * k))))
        })
    });
    assert!(shown, "no interval at +08:00 ({}): {:?}", shanghai_time(start), zh.text("[data-building=hall] .flows"));

    // The camera stops: offline in red with since-when, the building's numbers incomplete.
    drop(camera);
    let offline = wait_until(Duration::from_secs(GRACE_S + 40), || {
        zh.find("tr[data-camera=walkway][data-health=offline]").is_some()
    });
    assert!(offline, "the camera never read offline: {:?}", zh.text("tr[data-camera=walkway]"));
    let row = zh.text("tr[data-camera=walkway]").unwrap();
    assert!(row.contains("离线") && row.contains("自 "), "{row}");
    let red = zh
        .execute("return getComputedStyle(document.querySelector('tr[data-camera=walkway] .health')).color", json!([]));
    assert_eq!(red, "rgb(255, 107, 99)", "offline is not drawn red");
    assert!(wait_until(Duration::from_secs(10), || zh
        .find("[data-building=hall].incomplete .incomplete-note")
        .is_some()));
    assert!(zh.text("[data-building=hall]").unwrap().contains("计数不完整"));
    // The intervals published while it was down say so, and the chart marks them.
    let unhealthy_published = wait_until(Duration::from_secs(20), || {
        counts
            .drain()
            .iter()
            .any(|(_, m)| m["entrances"].as_array().is_some_and(|e| e.iter().any(|e| e["healthy"] == false)))
    });
    assert!(unhealthy_published, "the node published no healthy: false interval while its camera was down");
    let marked = wait_until(Duration::from_secs(70), || {
        zh.execute(
            "const c = document.querySelector('[data-chart=hall]'); return c ? Number(c.dataset.unhealthy) : 0;",
            json!([]),
        )
        .as_u64()
        .is_some_and(|n| n > 0)
    });
    assert!(marked, "the chart does not mark the unhealthy intervals");
    // The 1 h chart.
    zh.click(".range button[data-hours='1']");
    assert!(wait_until(Duration::from_secs(10), || zh
        .text("[data-chart=hall] .legend")
        .is_some_and(|l| l.contains("每 60 秒"))));

    // Acknowledging without a name is refused, on the page and by the node.
    let alert = "li[data-kind=camera_offline][data-subject=walkway].active";
    assert!(wait_until(Duration::from_secs(10), || zh.find(alert).is_some()), "no offline alert on the page");
    let text = zh.text(alert).unwrap();
    assert!(text.contains("摄像头离线") && !text.contains("rtsp"), "{text}");
    zh.execute("localStorage.removeItem('lintel.operator')", json!([]));
    zh.click(&format!("{alert} button.ack"));
    assert!(wait_until(Duration::from_secs(5), || zh.find(&format!("{alert} form.ack-form")).is_some()));
    zh.click(&format!("{alert} form.ack-form button[type=submit]"));
    assert!(wait_until(Duration::from_secs(5), || zh
        .text(&format!("{alert} .ack-error"))
        .is_some_and(|e| e.contains("请填写姓名"))));
    let id = api(web, "/api/alerts").as_array().unwrap().iter().find(|a| a["kind"] == "camera_offline").unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(
        api(web, "/api/alerts").as_array().unwrap().iter().all(|a| a["acked_at"].is_null()),
        "acknowledged without a name"
    );
    let bearer = format!("Bearer {OPERATOR}");
    let headers = [("Content-Type", "application/json"), ("Authorization", bearer.as_str())];
    let (status, body) = http("POST", web, &format!("/api/alerts/{id}/ack"), &headers, Some(r#"{"by": "  "}"#));
    assert_eq!(status, 422, "{body}");
    zh.screenshot(&shot("dashboard-zh-ack-refused.png"));
    // Offline, incomplete, the form and its refusal read well too.
    let problems = problems_of(&zh, "dashboard zh-CN 1280×720, camera offline");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        zh.execute("return document.getElementById('sound').checked", json!([])),
        false,
        "sound is on by default"
    );
    // With a name and a note it is recorded and shown.
    zh.type_into(&format!("{alert} input[name=by]"), "王丽");
    zh.type_into(&format!("{alert} input[name=note]"), "已通知物业检查电源");
    zh.click(&format!("{alert} form.ack-form button[type=submit]"));
    let acked = wait_until(Duration::from_secs(10), || {
        zh.text(alert).is_some_and(|t| t.contains("王丽 已于") && t.contains("已通知物业检查电源"))
    });
    assert!(acked, "{:?}", zh.text(alert));
    assert_eq!(zh.execute("return localStorage.getItem('lintel.operator')", json!([])), "王丽");

    // The camera comes back (after a few seconds more of outage): one incident, its end and
    // duration in the same card.
    std::thread::sleep(Duration::from_secs(3));
    let camera = Camera::start(camera_port);
    let incident = "li[data-kind=camera_offline][data-subject=walkway].cleared";
    let ended = wait_until(Duration::from_secs(60), || zh.find(incident).is_some());
    assert!(ended, "the outage never ended on the page: {}", api(web, "/api/alerts"));
    let text = zh.text(incident).unwrap();
    assert!(text.contains("结束，持续"), "{text}");
    assert!(zh.find("li[data-kind=camera_back]").is_none(), "the end is a card of its own");
    let row = api(web, "/api/alerts").as_array().unwrap().iter().find(|a| a["id"] == id).cloned().unwrap();
    assert!(row["duration_s"].as_i64().is_some_and(|d| d >= 3), "{row}");
    zh.screenshot(&shot("dashboard-zh-incident.png"));
    drop(zh);

    // Both languages at three sizes: nothing overflows, every text reads at AA contrast, no key shows.
    let mut problems = Vec::new();
    for language in LANGUAGES {
        for (width, height) in SIZES {
            let tag = format!("{language}-{width}x{height}");
            let browser = Browser::start_in(width, height, language);
            browser.goto(&format!("http://127.0.0.1:{web}/login"));
            assert!(wait_until(Duration::from_secs(10), || browser.find("#language option").is_some()));
            problems.extend(problems_of(&browser, &format!("login {tag}")));
            if width == 390 {
                // A wrong token is said in the reader's language.
                browser.type_into("input[name=token]", "a-token-that-is-not-right");
                browser.click("form button[type=submit]");
                let said = if language == "zh-CN" { "令牌无效" } else { "not valid" };
                let refused = wait_until(Duration::from_secs(10), || {
                    browser.text("#login-error").is_some_and(|e| e.contains(said))
                });
                assert!(refused, "{tag}: {:?}", browser.text("#login-error"));
                problems.extend(problems_of(&browser, &format!("login {tag}, refused")));
            }
            browser.screenshot(&shot(&format!("login-{tag}.png")));
            drop(browser);
            let browser = signed_in(web, width, height, language);
            // Wait for the alerts and the chart, then look.
            assert!(wait_until(Duration::from_secs(10), || browser.find(incident).is_some()
                && browser.find("[data-chart=hall] svg").is_some()));
            browser.screenshot(&shot(&format!("dashboard-{tag}.png")));
            // (Headings are drawn in capitals: innerText says ALERTS.)
            let expected = if language == "zh-CN" { "告警" } else { "ALERTS" };
            let title = browser.text("#alerts-title");
            assert!(title.as_deref().is_some_and(|t| t.contains(expected)), "{tag}: {title:?}");
            problems.extend(problems_of(&browser, &format!("dashboard {tag}")));
            let spill = browser.execute(SPILLS, json!([]));
            assert_eq!(spill, json!([]), "{tag}: tables wider than their sections");
            // Every control is reachable by keyboard: Tab reaches the language switch, the span buttons.
            let reached = browser.execute(TAB_TARGETS, json!([]));
            for control in ["language", "sound", "range-1", "range-24"] {
                assert!(
                    reached.as_array().unwrap().iter().any(|r| r == control),
                    "{tag}: {control} not focusable: {reached}"
                );
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    drop(camera);
    node.stop();
}

/// The tables that reach past their section (into the next column), named.
const SPILLS: &str = r#"
const spilled = [];
for (const table of document.querySelectorAll(".layout section table")) {
  const section = table.closest("section").getBoundingClientRect(), own = table.getBoundingClientRect();
  if (own.right > section.right + 1) spilled.push(`${table.closest("section").className}: ${own.right} > ${section.right}`);
}
return spilled;
"#;

/// The controls that take the keyboard focus, named.
const TAB_TARGETS: &str = r#"
const names = [];
for (const e of document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")) {
  if (e.tabIndex < 0 || e.disabled) continue;
  e.focus();
  if (document.activeElement !== e) continue;
  names.push(e.id || (e.dataset.hours ? `range-${e.dataset.hours}` : e.tagName.toLowerCase()));
}
return names;
"#;

/// With `--operator-stills`, an operator sees a camera's picture on the dashboard, hidden as the
/// set-up page's is, and never the clear one: a technician's unblur does not reach it.
#[test]
fn an_operator_sees_a_blurred_still_of_a_camera_when_the_node_offers_it() {
    use common::browser::{TECHNICIAN, request};
    let dir = scratch_dir("dashboard-stills");
    let broker = Broker::start(&dir);
    let camera_port = free_port();
    let _camera = Camera::start(camera_port);
    let site = pets_site(&dir, &format!("rtsp://127.0.0.1:{camera_port}/walkway"));
    let web = free_port();
    let _node = PagesNode::start(&site, &dir, broker.port, web, &["--operator-stills"]);
    assert_eq!(api(web, "/api/site")["stills"], true);
    // A technician opens an unblur window on the camera: the operators' still stays hidden.
    let technician = format!("Bearer {TECHNICIAN}");
    let json = [("Authorization", technician.as_str()), ("Content-Type", "application/json")];
    assert_eq!(request("POST", web, "/api/calibrate/walkway/unblur", &json, Some("{}")).status, 200);
    for (width, height) in [(1280, 720), (390, 844)] {
        let browser = signed_in(web, width, height, "zh-CN");
        let at = format!("zh-CN {width}×{height}");
        assert_eq!(browser.text("tr[data-camera=walkway] .still-toggle").as_deref(), Some("画面"), "{at}");
        browser.click("tr[data-camera=walkway] .still-toggle");
        let shown = wait_until(Duration::from_secs(30), || {
            browser.execute(
                "const p = document.getElementById('still-picture'); return p.complete && p.naturalWidth > 0;",
                json!([]),
            ) == json!(true)
        });
        assert!(shown, "{at}: no still: {:?}", browser.text("#still-caption"));
        let caption = browser.text("#still-caption").unwrap_or_default();
        assert!(caption.contains("walkway") && caption.contains("模糊"), "{at}: {caption:?}");
        let answer = request(
            "GET",
            web,
            "/api/cameras/walkway/still.jpg?clear=1",
            &[("Authorization", &format!("Bearer {OPERATOR}"))],
            None,
        );
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-lintel-blurred"), Some("1"), "{at}: a still served unblurred");
        assert_ne!(answer.header("x-lintel-hidden"), Some("nothing"), "{at}");
        browser.execute("document.getElementById('still').scrollIntoView({ block: 'center' });", json!([]));
        browser.screenshot(&shot(&format!("dashboard-still-zh-CN-{width}x{height}.png")));
        let problems = problems_of(&browser, &at);
        assert!(problems.is_empty(), "{problems:#?}");
        // Hidden again with its button.
        browser.click("tr[data-camera=walkway] .still-toggle");
        assert!(wait_until(Duration::from_secs(5), || browser.find("#still[hidden]").is_some()), "{at}");
    }
    // Off by default: no still, and the page offers none.
    let web = free_port();
    let dir = scratch_dir("dashboard-no-stills");
    let _node = PagesNode::start(&site, &dir, broker.port, web, &[]);
    assert_eq!(api(web, "/api/site")["stills"], false);
    let (status, _) = get(web, "/api/cameras/walkway/still.jpg", Some(OPERATOR));
    assert_eq!(status, 404);
    let browser = signed_in(web, 1280, 720, "zh-CN");
    assert!(browser.find(".still-toggle").is_none(), "a still offered by a node that serves none");
}
