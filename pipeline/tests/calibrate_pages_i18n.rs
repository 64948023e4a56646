//! The technicians' set-up page as its readers get it: in Simplified Chinese and English, at a
//! laptop's 1280×720, a wall screen's 1920×1080 and a phone's 390×844, with the picture in its own
//! shape and the zones on it where they are; a line placed and saved from the keyboard alone; the
//! validation bar over the picture. Real `lintel run` on the clip served as an RTSP camera, real
//! headless Chromium. Screenshots go to the test's target tmp dir.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::browser::{Browser, PagesNode, SHIFT, TECHNICIAN};
use common::{Broker, RtspCamera, free_port, pets_site, scratch_dir, wait_until};
use serde_json::{Value, json};

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const LEFT: &str = "\u{E012}";
const UP: &str = "\u{E013}";
const RIGHT: &str = "\u{E014}";
const DOWN: &str = "\u{E015}";

/// mosquitto, the clip as an RTSP camera, the PETS site (in Asia/Shanghai) and a node serving its
/// pages on `web`; all stopped when dropped, the node first.
struct Rig {
    site: PathBuf,
    web: u16,
    _node: PagesNode,
    _camera: RtspCamera,
    _broker: Broker,
}

impl Rig {
    fn start(name: &str) -> Self {
        let dir = scratch_dir(name);
        let broker = Broker::start(&dir);
        let camera = RtspCamera::start("/walkway");
        let site = pets_site(&dir, &camera.url);
        let web = free_port();
        let node = PagesNode::start(&site, &dir, broker.port, web, &[]);
        Self { site, web, _node: node, _camera: camera, _broker: broker }
    }
}

fn screenshot_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn script(browser: &Browser, body: &str) -> Value {
    browser.execute(body, Value::Array(vec![]))
}

/// A browser reading `language` at `width`×`height`, signed in as a technician, on the set-up page
/// once it lists the site's zones (six, or more once one is added) over a live picture.
fn open_set_up(web: u16, width: u32, height: u32, language: &str) -> Browser {
    let browser = Browser::start_in(width, height, language);
    browser.goto(&format!("http://127.0.0.1:{web}/login"));
    browser.type_into("input[name=token]", TECHNICIAN);
    browser.click("form button[type=submit]");
    let signed_in = wait_until(Duration::from_secs(20), || {
        script(&browser, "return location.pathname === '/' && document.readyState === 'complete';") == json!(true)
    });
    assert!(signed_in, "signing in did not lead to the dashboard");
    browser.goto(&format!("http://127.0.0.1:{web}/calibrate"));
    let shown = wait_until(Duration::from_secs(60), || {
        script(
            &browser,
            "const p = document.getElementById('picture'); \
             return document.querySelectorAll('#zones .zone-item').length >= 6 && p.naturalWidth > 0 && p.complete \
               && document.getElementById('stage').style.getPropertyValue('--ratio') !== '';",
        ) == json!(true)
    });
    let seen = script(
        &browser,
        "const p = document.getElementById('picture'); \
         return [document.querySelectorAll('#zones .zone-item').length, p.naturalWidth, p.complete, \
           document.getElementById('stage').style.getPropertyValue('--ratio'), document.getElementById('frame-info').innerText];",
    );
    assert!(
        shown,
        "the set-up page never showed the site's zones over a live picture ({language} {width}×{height}): {seen}"
    );
    // Past the first look, when the first picture may still be the one loading.
    std::thread::sleep(Duration::from_millis(600));
    browser
}

/// The live picture's size as the node analyses it (the page's units).
fn live_size(web: u16) -> (f64, f64) {
    let bearer = format!("Bearer {TECHNICIAN}");
    let get =
        || common::browser::request("GET", web, "/api/calibrate/walkway/live", &[("Authorization", &bearer)], None);
    assert!(wait_until(Duration::from_secs(60), || get().status == 200), "no live frame");
    let answer = get();
    let live: Value = serde_json::from_slice(&answer.body).unwrap();
    (live["width"].as_f64().unwrap(), live["height"].as_f64().unwrap())
}

#[test]
fn the_set_up_page_reads_in_chinese_and_english_at_three_sizes_with_the_picture_in_its_own_shape() {
    let rig = Rig::start("calibrate-i18n");
    let (live_width, live_height) = live_size(rig.web);
    let camera_ratio = live_width / live_height;
    let mut failures = Vec::new();
    for language in ["zh-CN", "en"] {
        for (width, height) in [(1280, 720), (1920, 1080), (390, 844)] {
            let browser = open_set_up(rig.web, width, height, language);
            let at = format!("{language} {width}×{height}");
            browser.screenshot(&screenshot_path(&format!("calibrate-{language}-{width}x{height}.png")));

            let problems = browser.page_problems();
            if !problems.is_empty() {
                failures.push(format!("{at}: {problems:#?}"));
            }

            // The page's own texts, and those its scripts write, in the reader's language.
            let texts = script(
                &browser,
                "const text = (css) => (document.querySelector(css) || {}).innerText || null; \
                 return [document.documentElement.lang, text('#add-line'), text('aside h2'), \
                   text('.labels .in-side'), text('.labels .out-side'), text('#zones .zone-counts .in'), \
                   text('#privacy'), document.title];",
            );
            let expected = if language == "zh-CN" {
                json!(["zh-CN", "+ 计数线", "计数区域", "进", "出"])
            } else {
                json!(["en", "+ Line", "ZONES", "IN", "OUT"])
            };
            assert_eq!(texts.as_array().unwrap()[..5], expected.as_array().unwrap()[..], "{at}: {texts}");
            let counts = texts[5].as_str().unwrap_or_default();
            let privacy = texts[6].as_str().unwrap_or_default();
            if language == "zh-CN" {
                assert!(counts.starts_with('进') && privacy.contains("模糊"), "{at}: {texts}");
                assert!(texts[7].as_str().is_some_and(|t| t.contains("摄像头设置")), "{at}: {texts}");
            } else {
                assert!(counts.ends_with(" in") && privacy.contains("blurred"), "{at}: {texts}");
            }

            // The picture is shown in the camera's shape, not stretched; the overlay covers
            // exactly the picture, and a zone's handle is where its point is on the picture.
            let shape = script(
                &browser,
                "const p = document.getElementById('picture').getBoundingClientRect(); \
                 const o = document.getElementById('overlay').getBoundingClientRect(); \
                 const img = document.getElementById('picture'); \
                 const h = document.querySelector('ellipse.handle[data-zone=\"4\"][data-point=\"0\"]').getBoundingClientRect(); \
                 return [p.left, p.top, p.width, p.height, o.left, o.top, o.width, o.height, \
                   getComputedStyle(img).objectFit === 'fill' ? 1 : 0, 0, h.left + h.width / 2, h.top + h.height / 2, innerHeight];",
            );
            let v: Vec<f64> = shape.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let shown_ratio = v[2] / v[3];
            assert!(
                (shown_ratio / camera_ratio - 1.0).abs() < 0.01,
                "{at}: shown {shown_ratio}, camera {camera_ratio}"
            );
            // The JPEG is the picture the detector analyses (square for this model): filling the
            // camera-shaped box is what gives it back the camera's shape.
            assert_eq!(v[8], 1.0, "{at}: the picture does not fill its box");
            for i in 0..4 {
                assert!((v[i] - v[4 + i]).abs() < 1.0, "{at}: the overlay is not on the picture: {v:?}");
            }
            // short-v300's A is at (0.390625, 0.260417) of the picture.
            let (x, y) = (v[0] + 0.390625 * v[2], v[1] + 0.260417 * v[3]);
            assert!(
                (v[10] - x).abs() < 2.0 && (v[11] - y).abs() < 2.0,
                "{at}: handle at {:?}, point at {x},{y}",
                &v[10..12]
            );
            // The whole picture is in the window on a laptop and a wall screen.
            if width > 1000 {
                assert!(v[1] + v[3] <= v[12] + 1.0, "{at}: the picture goes below the window: {v:?}");
            }
        }
    }
    assert!(failures.is_empty(), "problems on the shown pages:\n{}", failures.join("\n"));
}

/// Tab until the element with `id` has the focus (Shift+Tab with `backwards`).
fn tab_to(browser: &Browser, id: &str, backwards: bool) {
    for _ in 0..40 {
        if script(browser, "return document.activeElement && document.activeElement.id;") == json!(id) {
            return;
        }
        if backwards {
            browser.press_keys(&[SHIFT, TAB]);
        } else {
            browser.press_keys(&[TAB]);
        }
    }
    panic!("#{id} is not reachable with the Tab key");
}

#[test]
fn a_line_is_placed_moved_and_saved_from_the_keyboard_alone_and_the_validation_bar_reads_in_chinese() {
    let rig = Rig::start("calibrate-keys");
    let browser = open_set_up(rig.web, 1280, 720, "en");

    // + Line with Enter, then on the picture: the cross starts in the middle; Shift+arrow moves
    // it 5% of the picture, an arrow 0.5%.
    tab_to(&browser, "add-line", false);
    browser.press_keys(&[ENTER]);
    tab_to(&browser, "overlay", true);
    let mut keys = vec![];
    keys.extend([SHIFT, LEFT].repeat(9)); // x 0.05
    keys.extend([SHIFT, DOWN].repeat(2)); // y 0.6
    keys.push(ENTER); // A
    keys.extend([SHIFT, RIGHT].repeat(18)); // x 0.95
    keys.push(ENTER); // B
    browser.press_keys(&keys);
    assert!(
        wait_until(Duration::from_secs(5), || browser.find("#zones li[data-zone=line-1]").is_some()),
        "no line placed from the keyboard"
    );
    browser.screenshot(&screenshot_path("calibrate-keys-placed.png"));
    // P chooses the last point (the new line's B); two arrow presses up move it 1% of the height.
    browser.press_keys(&["p", UP, UP]);
    tab_to(&browser, "save", false);
    browser.press_keys(&[ENTER]);
    let saved =
        wait_until(Duration::from_secs(20), || browser.text("#save-status").is_some_and(|t| t.starts_with("Saved")));
    let said = browser.text("#save-status").unwrap_or_default();
    assert!(saved, "not saved from the keyboard: {said:?}");

    let site = lintel_calibration::site::Site::load(&rig.site).unwrap();
    let line = site.zones.iter().find(|z| z.name == "line-1").expect("the keyboard's line is not in the site file");
    let lintel_calibration::site::ZoneShape::Line(shape) = &line.shape else { panic!("not a line") };
    assert!((shape.a.x - 0.05).abs() < 0.002 && (shape.a.y - 0.6).abs() < 0.002, "{shape:?}");
    assert!((shape.b.x - 0.95).abs() < 0.002 && (shape.b.y - 0.59).abs() < 0.002, "{shape:?}");

    // "Saved at" is the site's time (Asia/Shanghai, UTC+8), whatever the browser's zone.
    let shown_hour: u64 = said.split_whitespace().nth(2).and_then(|t| t.get(..2)).and_then(|h| h.parse().ok()).unwrap();
    let utc_hour = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 3600 % 24;
    let shanghai = (utc_hour + 8) % 24;
    assert!(shown_hour == shanghai || shown_hour == (shanghai + 1) % 24, "{said:?}: not Shanghai's hour {shanghai}");
    // Every kind of control is reachable with Tab: the top bar's, the picture, the zone tools, each
    // zone's fields, the lens and floor, the validation.
    let mut reached = std::collections::BTreeSet::new();
    for _ in 0..150 {
        browser.press_keys(&[TAB]);
        let at = script(
            &browser,
            "const e = document.activeElement; return e.id || (e.dataset && e.dataset.field) || e.className || e.tagName;",
        );
        reached.insert(at.as_str().unwrap_or_default().to_string());
    }
    for control in [
        "camera",
        "flow-toggle",
        "unblur",
        "language",
        "overlay",
        "add-line",
        "add-polygon",
        "name",
        "flip",
        "hysteresis",
        "aggregate",
        "delete",
        "entrance",
        "add-floor",
        "validate-zone",
        "validate-start",
    ] {
        assert!(reached.contains(control), "{control} is not reachable with Tab: {reached:?}");
    }
    drop(browser);

    // The validation bar, in Chinese on a laptop: over the picture, big buttons with their keys, a
    // timer, progress to 100 and a verdict, all in the window.
    let browser = open_set_up(rig.web, 1280, 720, "zh-CN");
    script(&browser, "document.getElementById('validate-zone').value = 'h300';");
    browser.click("#validate-start");
    assert!(wait_until(Duration::from_secs(5), || browser.find("#tap-in:not([disabled])").is_some()));
    // The page puts the focus on In: the keys i and o tap.
    browser.press_keys(&["i", "i", "o"]);
    std::thread::sleep(Duration::from_millis(1500));
    let bar = script(
        &browser,
        "const r = (id) => document.getElementById(id).getBoundingClientRect(); \
         const s = r('stage'), b = r('validate-bar'), i = r('tap-in'); \
         return [b.top >= s.top - 1 && b.bottom <= s.bottom + 1, i.bottom <= innerHeight, \
           document.getElementById('tap-in').innerText, document.getElementById('validate-count').innerText, \
           document.getElementById('validate-timer').innerText, document.getElementById('verdict').innerText];",
    );
    browser.screenshot(&screenshot_path("calibrate-validation-zh-CN-1280x720.png"));
    assert_eq!(bar[0], json!(true), "the bar is not over the picture: {bar}");
    assert_eq!(bar[1], json!(true), "the In button is below the fold: {bar}");
    assert_eq!(bar[2], json!("进 +1 i"), "{bar}");
    assert_eq!(bar[3], json!("3 / 100 人次"), "{bar}");
    assert!(bar[4].as_str().is_some_and(|t| t.starts_with("0:0")), "{bar}");
    let verdict = bar[5].as_str().unwrap_or_default();
    assert!(verdict.contains("一致率") && verdict.contains("100"), "no verdict on the way to 100: {bar}");
    let problems = browser.page_problems();
    assert!(problems.is_empty(), "{problems:#?}");
    browser.click("#validate-stop");
    assert!(
        wait_until(Duration::from_secs(10), || browser.text("#agreement").is_some_and(|t| t.starts_with("已保存"))),
        "{:?}",
        browser.text("#agreement")
    );
    // The validation kept is listed with its time in the site's zone.
    assert!(
        wait_until(Duration::from_secs(5), || browser.text("#validations").is_some_and(|t| t.contains("h300"))),
        "not listed"
    );

    // Hysteresis: in the picture's pixels without a floor (said so), in centimetres on one; the
    // floor being edited is spoken of as a draft.
    let hysteresis = |index: u32| {
        script(
            &browser,
            &format!(
                "const i = document.querySelector('[data-field=hysteresis][data-index=\"{index}\"]'); \
                 return [i.value, i.parentElement.innerText];"
            ),
        )
    };
    let before = hysteresis(4);
    assert!(before[1].as_str().is_some_and(|t| t.contains("画面像素")), "{before}");
    browser.click("#add-floor");
    assert!(
        wait_until(Duration::from_secs(5), || browser.text("#floor-summary").is_some_and(|t| t.contains("草稿"))),
        "the draft floor is not called a draft: {:?}",
        browser.text("#floor-summary")
    );
    browser.click("[data-field=floor][data-index=\"4\"]");
    assert!(
        wait_until(Duration::from_secs(5), || hysteresis(4)[1].as_str().is_some_and(|t| t.contains("厘米"))),
        "{}",
        hysteresis(4)
    );
    // The site file's 0.25 m, shown as 25 cm.
    assert_eq!(hysteresis(4)[0], json!("25"));
    browser.screenshot(&screenshot_path("calibrate-floor-zh-CN-1280x720.png"));
    let problems = browser.page_problems();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Whether `text` holds an English phrase: two words of Latin letters in a row (ids such as
/// `zone[4].min_distance` or `cam-1` are not phrases).
fn english_phrase(text: &str) -> Option<String> {
    let word = |w: &&str| w.len() >= 2 && w.chars().all(|c| c.is_ascii_alphabetic() || c == '\'');
    let tokens: Vec<&str> = text.split_whitespace().collect();
    tokens.windows(2).find(|pair| pair.iter().all(word)).map(|pair| pair.join(" "))
}

#[test]
fn a_save_the_site_file_refuses_and_an_audit_detail_read_in_chinese() {
    assert_eq!(english_phrase("is empty"), Some("is empty".into()));
    assert_eq!(english_phrase("第 18 行，zone[4].min_distance：防抖距离必须小于画面高度的一半"), None);
    let rig = Rig::start("calibrate-refused-zh");
    for (width, height) in [(1280, 720), (390, 844)] {
        let browser = open_set_up(rig.web, width, height, "zh-CN");
        let at = format!("zh-CN {width}×{height}");
        // 5000 pixels of hysteresis is past half the picture: the page sends it, the site file
        // refuses it.
        script(
            &browser,
            "const i = document.querySelector('[data-field=hysteresis][data-index=\"4\"]'); \
             i.value = '5000'; i.dispatchEvent(new Event('change'));",
        );
        browser.click("#save");
        let refused = wait_until(Duration::from_secs(20), || {
            script(&browser, "return document.getElementById('save-status').className;")
                .as_str()
                .is_some_and(|c| c.contains("error"))
        });
        let status = browser.text("#save-status").unwrap_or_default();
        assert!(refused, "{at}: the save was not refused: {status:?}");
        assert!(status.contains("防抖距离") && status.contains("min_distance"), "{at}: {status:?}");
        assert_eq!(english_phrase(&status), None, "{at}: English in {status:?}");
        // Beside the zone it is about, in the same words.
        let beside = browser.text("#zones li.zone-item.error .field-error").unwrap_or_default();
        assert_eq!(beside, status, "{at}");
        script(&browser, "document.getElementById('save-status').scrollIntoView({ block: 'center' });");
        browser.screenshot(&screenshot_path(&format!("calibrate-refused-zh-CN-{width}x{height}.png")));
        let problems = browser.page_problems();
        assert!(problems.is_empty(), "{at}: {problems:#?}");
        // Nothing was saved.
        let site = lintel_calibration::site::Site::load(&rig.site).unwrap();
        assert!(site.zones.iter().all(|z| z.min_distance < 0.5), "a refused save was written");
    }

    // An unblur, and the audit trail on the dashboard says it in Chinese.
    open_set_up(rig.web, 1280, 720, "zh-CN").click("#unblur");
    for (width, height) in [(1280, 720), (390, 844)] {
        let browser = open_set_up(rig.web, width, height, "zh-CN");
        browser.goto(&format!("http://127.0.0.1:{}/", rig.web));
        let row = "#audit tr[data-action=unblur] td.detail";
        let shown = wait_until(Duration::from_secs(15), || browser.text(row).is_some());
        let detail = browser.text(row).unwrap_or_default();
        assert!(shown, "no unblur in the audit trail");
        assert_eq!(detail, "取消模糊 30 秒", "{width}×{height}");
        script(&browser, "document.querySelector('section.audit').scrollIntoView({ block: 'start' });");
        browser.screenshot(&screenshot_path(&format!("dashboard-audit-zh-CN-{width}x{height}.png")));
        let problems = browser.page_problems();
        assert!(problems.is_empty(), "{width}×{height}: {problems:#?}");
    }
}
