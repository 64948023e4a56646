//! The page checks every page test uses, on a page made to fail each of them (real Chromium).

use lintel_testkit::browser::Browser;

#[test]
fn the_page_checks_find_overflow_low_contrast_and_missing_texts() {
    let page = r#"<html><body style="margin:0;background:#fff">
        <p id="fine" style="color:#222">readable</p>
        <p id="faint" style="color:#bbb">faint grey on white</p>
        <p id="key">dashboard.title</p>
        <p id="template">{{missing}}</p>
        <div id="narrow" style="width:40px;white-space:nowrap">a long line that cannot fit</div>
        <div style="width:2000px;height:4px"></div>
        <p hidden style="color:#eee">hidden text is not checked</p>
    </body></html>"#;
    let browser = Browser::start(800, 600);
    browser.goto(&format!("data:text/html;charset=utf-8,{}", urlencode(page)));
    let problems = browser.page_problems();
    let has = |what: &str| problems.iter().any(|p| p.contains(what));
    assert!(has("horizontal scroll"), "{problems:#?}");
    assert!(has("#faint") && has("contrast"), "{problems:#?}");
    assert!(has("#key") && has("#template"), "{problems:#?}");
    assert!(has("#narrow") && has("overflows"), "{problems:#?}");
    assert!(!has("#fine") && !has("hidden text"), "{problems:#?}");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
