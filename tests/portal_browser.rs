//! The self-service portal (`GET /portal`) in headless Chromium against a local stack of its own:
//! a customer opens the link with its token, reads the instructions and the agreement (inline
//! in an iframe, or as a link to a new tab), confirms one, and the API holds the evidence.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; scripts/test.sh installs them).
//! Without them these tests fail with the command that installs them: they never skip.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use fantoccini::Locator;
use integration_tests::api::{customer_token, expired_token, id, staff_token, Api};
use integration_tests::browser::{require_chromium, serve_document, Browser};
use integration_tests::workspace_root;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// The agreement the inline template links to, served on loopback (the machine has no internet).
const AGREEMENT_DOCUMENT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Microsoft Customer Agreement</title><style>body{font:14px/1.6 Georgia,serif;margin:24px 32px;\
color:#222}h1{font-size:20px;margin:0 0 8px}h2{font-size:15px;margin:18px 0 4px}p{margin:0 0 8px}</style>\
</head><body><h1>Microsoft Customer Agreement</h1><p><em>Document version 2024-01</em></p>\
<p>This Microsoft Customer Agreement (the \u{201c}Agreement\u{201d}) is entered into between Customer \
and Microsoft and consists of these General Terms, the applicable Use Rights and any Order.</p>\
<h2>1. Licenses and rights</h2><p>Products are licensed, not sold. Upon acceptance of each Order \
and subject to Customer\u{2019}s compliance with this Agreement, Microsoft grants Customer a \
nonexclusive and limited license to use the Products ordered as provided in the Use Rights.</p>\
<h2>2. Privacy and security</h2><p>Microsoft will process Customer Data as described in the Data \
Protection Addendum.</p><h2>3. Term and termination</h2><p>This Agreement remains in effect until \
terminated by a party in accordance with its terms.</p></body></html>";

const INLINE_INSTRUCTIONS: &str =
    "Read the Microsoft Customer Agreement below, then confirm it for your organisation.";
const LINK_INSTRUCTIONS: &str =
    "Open the Data Protection Addendum in a new tab and read it before you confirm.";

fn card(agreement_id: &str) -> String {
    format!("[data-testid=\"agreement-card\"][data-agreement-id=\"{agreement_id}\"]")
}

/// The text of the element `testid` within the card `card` (a selector from `card`).
async fn field(browser: &Browser, card: &str, testid: &str) -> Option<String> {
    browser
        .text(&format!("{card} [data-testid=\"{testid}\"]"))
        .await
}

/// How many cards a list of the page shows.
async fn cards_in(browser: &Browser, list: &str) -> usize {
    browser
        .client
        .find_all(Locator::Css(&format!(
            "[data-testid=\"{list}\"] [data-testid=\"agreement-card\"]"
        )))
        .await
        .map(|v| v.len())
        .unwrap_or(0)
}

async fn attr(browser: &Browser, css: &str, name: &str) -> Option<String> {
    let e = browser.client.find(Locator::Css(css)).await.ok()?;
    e.attr(name).await.ok().flatten()
}

async fn exists(browser: &Browser, css: &str) -> bool {
    browser.client.find(Locator::Css(css)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_reads_and_confirms_agreements_in_the_portal() {
    require_chromium();
    let started = Instant::now();
    let api = Api::start().await;
    let b = api.basics().await;
    let (document_url, document_server) = serve_document(AGREEMENT_DOCUMENT).await;

    // The basics' template shows inline; point it at the served document.
    let patched = api
        .call(
            Method::PATCH,
            &format!("/agreement-templates/{}", id(&b.template)),
            Some(&staff_token()),
            Some(
                json!({"agreement_link": document_url, "portal_instructions": INLINE_INSTRUCTIONS}),
            ),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(patched.body["display_inline"], true);
    let linked_template = api
        .create(
            "/agreement-templates",
            json!({"name": "Data Protection Addendum", "template_id": "dpa-2024",
                   "provider_id": id(&b.provider), "document_version": "2024-03",
                   "effective_date": "2024-03-01", "agreement_link": "https://example.com/dpa.pdf",
                   "display_inline": false, "portal_instructions": LINK_INSTRUCTIONS}),
        )
        .await;
    let account = id(&b.account);
    let inline = id(&api
        .create(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": account}),
        )
        .await);
    let linked = id(&api
        .create(
            "/agreements",
            json!({"template_id": id(&linked_template), "account_id": account}),
        )
        .await);
    let contact = id(&b.contact);
    let token = customer_token(&account, &contact);

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/portal#token={token}", api.base))
        .await
        .expect("open the portal");
    browser
        .wait_for("the two pending agreements", WAIT, || async {
            (cards_in(&browser, "pending-list").await == 2).then_some(())
        })
        .await;
    let url = browser.client.current_url().await.expect("the page's URL");
    assert_eq!(url.fragment(), None, "the token is taken out of the URL");
    assert_eq!(
        browser
            .eval(
                "return sessionStorage.getItem('agreements.portal.token');",
                vec![]
            )
            .await,
        json!(token),
        "and kept for the tab"
    );
    assert_eq!(
        browser
            .text("[data-testid=\"pending-count\"]")
            .await
            .as_deref(),
        Some("2")
    );
    assert_eq!(cards_in(&browser, "accepted-list").await, 0);
    assert!(browser
        .text("header")
        .await
        .is_some_and(|t| t.contains("Agreements")
            && t.contains("Customer portal")
            && t.contains("Signed in")));

    // Inline: the instructions, then the document in an iframe that really loads it.
    let c = card(&inline);
    assert_eq!(
        field(&browser, &c, "template-name").await.as_deref(),
        Some("Microsoft Customer Agreement")
    );
    assert_eq!(
        field(&browser, &c, "document-version").await.as_deref(),
        Some("Document version 2024-01")
    );
    assert_eq!(
        field(&browser, &c, "status-badge").await.as_deref(),
        Some("Pending")
    );
    let instructions = field(&browser, &c, "instructions")
        .await
        .unwrap_or_default();
    assert!(instructions.contains(INLINE_INSTRUCTIONS), "{instructions}");
    let frame = format!("{c} iframe[data-testid=\"agreement-frame\"]");
    assert_eq!(
        attr(&browser, &frame, "src").await.as_deref(),
        Some(document_url.as_str())
    );
    assert!(!exists(&browser, &format!("{c} [data-testid=\"agreement-link\"]")).await);
    let instructions_first = browser
        .eval(
            "const i = document.querySelector(arguments[0]), f = document.querySelector(arguments[1]);
             return Boolean(i.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING);",
            vec![
                json!(format!("{c} [data-testid=\"instructions\"]")),
                json!(frame.clone()),
            ],
        )
        .await;
    assert_eq!(
        instructions_first,
        json!(true),
        "instructions come above the agreement"
    );
    let frame_element = browser
        .client
        .find(Locator::Css(&frame))
        .await
        .expect("the iframe");
    frame_element.enter_frame().await.expect("enter the iframe");
    let heading = browser
        .wait_for("the agreement inside the iframe", WAIT, || async {
            browser.text("h1").await
        })
        .await;
    assert_eq!(heading, "Microsoft Customer Agreement");
    browser
        .client
        .enter_parent_frame()
        .await
        .expect("back to the page");

    // Linked: a link that opens a new tab, no iframe.
    let l = card(&linked);
    let link = format!("{l} a[data-testid=\"agreement-link\"]");
    assert_eq!(
        attr(&browser, &link, "href").await.as_deref(),
        Some("https://example.com/dpa.pdf")
    );
    assert_eq!(
        attr(&browser, &link, "target").await.as_deref(),
        Some("_blank")
    );
    assert!(attr(&browser, &link, "rel")
        .await
        .is_some_and(|r| r.split_whitespace().any(|w| w == "noopener")));
    assert!(!exists(&browser, &format!("{l} iframe")).await);
    let instructions = field(&browser, &l, "instructions")
        .await
        .unwrap_or_default();
    assert!(instructions.contains(LINK_INSTRUCTIONS), "{instructions}");

    // Confirm the inline one: the button waits for the checkbox.
    let button = browser
        .client
        .find(Locator::Css(&format!(
            "{c} [data-testid=\"confirm-button\"]"
        )))
        .await
        .expect("a confirm button");
    assert!(
        !button.is_enabled().await.expect("enabled?"),
        "not before the checkbox"
    );
    let checkbox = browser
        .client
        .find(Locator::Css(&format!(
            "{c} [data-testid=\"confirm-checkbox\"]"
        )))
        .await
        .expect("a confirmation checkbox");
    let label = browser
        .text(&format!("{c} .confirm label"))
        .await
        .unwrap_or_default();
    assert!(label.contains("on behalf of my organisation"), "{label}");
    checkbox.click().await.expect("tick the checkbox");
    assert!(button.is_enabled().await.expect("enabled?"));
    button.click().await.expect("click Confirm");

    let signed_on_text = browser
        .wait_for("the confirmed agreement under Accepted", WAIT, || async {
            let accepted = format!("[data-testid=\"accepted-list\"] {c}");
            let badge = field(&browser, &accepted, "status-badge").await?;
            let signed = field(&browser, &accepted, "signed-on").await?;
            (badge == "Accepted").then_some(signed)
        })
        .await;
    assert!(signed_on_text.contains("Signed on"), "{signed_on_text}");
    assert_eq!(cards_in(&browser, "pending-list").await, 1);
    assert!(exists(&browser, &format!("[data-testid=\"pending-list\"] {l}")).await);
    assert!(!exists(&browser, &format!("{c} [data-testid=\"confirm-button\"]")).await);
    let notice = browser
        .text("[data-testid=\"notice\"]")
        .await
        .unwrap_or_default();
    assert!(notice.contains("confirmed"), "{notice}");
    let signed_on_day = attr(
        &browser,
        &format!("{c} [data-testid=\"signed-on\"] time"),
        "datetime",
    )
    .await;

    let screenshot: PathBuf = workspace_root().join("tests/artifacts/portal.png");
    browser.full_page_screenshot(&screenshot).await;
    println!("screenshot: {}", screenshot.display());

    // A reload keeps the tab signed in (sessionStorage) and shows the same state.
    browser.client.refresh().await.expect("reload");
    browser
        .wait_for("the state after a reload", WAIT, || async {
            (cards_in(&browser, "accepted-list").await == 1
                && cards_in(&browser, "pending-list").await == 1)
                .then_some(())
        })
        .await;
    browser.close().await;
    document_server.abort();

    // The API holds what the page did, with the browser's evidence.
    let stored = api.get(&format!("/agreements/{inline}")).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.body["status"], "accepted");
    assert_eq!(stored.body["signed_by"], json!(contact));
    assert_eq!(signed_on_day.as_deref(), stored.body["signed_on"].as_str());
    assert_eq!(
        api.get(&format!("/agreements/{linked}")).await.body["status"],
        "pending"
    );
    let history = api.get(&format!("/agreements/{inline}/history")).await;
    let events = history.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // The last change of status is the acceptance. (The provider of `basics` syncs agreements
    // with Partner Center, so the worker may append its attestation outcome after it, as a
    // system event that leaves the status as it is.)
    let last = events
        .iter()
        .rev()
        .find(|e| e["from_status"] != e["to_status"])
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(last["action"], "accepted", "{events:?}");
    assert_eq!(last["to_status"], "accepted");
    assert_eq!(last["actor"]["kind"], "customer");
    let accepted_at = events.iter().position(|e| e["action"] == "accepted");
    for later in accepted_at.map_or(&[][..], |i| &events[i + 1..]) {
        assert_eq!(
            later["to_status"], "accepted",
            "the status stays: {later:?}"
        );
        assert_eq!(later["actor"]["kind"], "system", "{later:?}");
    }
    let user_agent = last["details"]["from"]["user_agent"]
        .as_str()
        .unwrap_or_default();
    assert!(
        user_agent.contains("Chrome") || user_agent.contains("Headless"),
        "the evidence names the browser: {user_agent:?}"
    );
    assert_eq!(last["details"]["who"]["contact_id"], json!(contact));
    api.stack.shutdown().await;
    println!("portal browser flow: {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_box_friendly_errors_and_escaped_data() {
    require_chromium();
    let api = Api::start().await;
    let b = api.basics().await;
    // Markup in a name and in the instructions is text on the page, never markup.
    let hostile = api
        .create(
            "/agreement-templates",
            json!({"name": "<img src=x onerror=\"window.pwned=1\">Addendum", "template_id": "x-1",
                   "provider_id": id(&b.provider), "document_version": "<b>v9</b>",
                   "effective_date": "2024-01-01", "agreement_link": "https://example.com/a?x=\"><script>window.pwned=2</script>",
                   "display_inline": false,
                   "portal_instructions": "<script>window.pwned=3</script>Line one\nLine two"}),
        )
        .await;
    let agreement = id(&api
        .create(
            "/agreements",
            json!({"template_id": id(&hostile), "account_id": id(&b.account)}),
        )
        .await);

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/portal", api.base))
        .await
        .expect("open the portal");
    browser
        .wait_for("the sign-in box", WAIT, || async {
            let e = browser
                .client
                .find(Locator::Css("[data-testid=\"sign-in\"]"))
                .await
                .ok()?;
            e.is_displayed().await.ok()?.then_some(())
        })
        .await;

    // An expired token: a friendly message and the sign-in box again.
    let input = browser
        .client
        .find(Locator::Css("[data-testid=\"token-input\"]"))
        .await
        .expect("the token box");
    input.send_keys(&expired_token()).await.expect("type");
    browser
        .client
        .find(Locator::Css("[data-testid=\"sign-in-button\"]"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("sign in");
    // (The portal's authorizer refuses it; not being a portal link token, whose expiry the page
    // can read, it is "no longer valid".)
    let reason = refused_page(&browser).await;
    assert_eq!(reason, "invalid");
    assert!(
        browser
            .client
            .find(Locator::Css("[data-testid=\"sign-in\"]"))
            .await
            .expect("the sign-in box")
            .is_displayed()
            .await
            .expect("displayed?"),
        "the sign-in box stays for a new token"
    );
    assert_eq!(
        browser
            .eval(
                "return sessionStorage.getItem('agreements.portal.token');",
                vec![]
            )
            .await,
        Value::Null,
        "a refused token is not kept"
    );

    // The right token through the box.
    let input = browser
        .client
        .find(Locator::Css("[data-testid=\"token-input\"]"))
        .await
        .expect("the token box");
    input
        .send_keys(&customer_token(&id(&b.account), &id(&b.contact)))
        .await
        .expect("type");
    browser
        .client
        .find(Locator::Css("[data-testid=\"sign-in-button\"]"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("sign in");
    browser
        .wait_for("the agreement after signing in", WAIT, || async {
            (cards_in(&browser, "pending-list").await == 1).then_some(())
        })
        .await;
    let c = card(&agreement);
    assert_eq!(
        field(&browser, &c, "template-name").await.as_deref(),
        Some("<img src=x onerror=\"window.pwned=1\">Addendum")
    );
    assert_eq!(
        field(&browser, &c, "document-version").await.as_deref(),
        Some("Document version <b>v9</b>")
    );
    let instructions = field(&browser, &c, "instructions")
        .await
        .unwrap_or_default();
    assert!(
        instructions.contains("<script>window.pwned=3</script>Line one"),
        "{instructions}"
    );
    let markup = browser
        .eval(
            "return [window.pwned === undefined, document.querySelectorAll('main img, main script, main b').length];",
            vec![],
        )
        .await;
    assert_eq!(
        markup,
        json!([true, 0]),
        "no markup from data ran or was inserted"
    );
    assert_eq!(
        attr(
            &browser,
            &format!("{c} [data-testid=\"agreement-link\"]"),
            "href"
        )
        .await
        .as_deref(),
        Some("https://example.com/a?x=%22%3E%3Cscript%3Ewindow.pwned=2%3C/script%3E")
    );

    // Signing out forgets the token.
    browser
        .client
        .find(Locator::Css("[data-testid=\"sign-out\"]"))
        .await
        .expect("sign out button")
        .click()
        .await
        .expect("sign out");
    assert_eq!(
        browser
            .eval(
                "return sessionStorage.getItem('agreements.portal.token');",
                vec![]
            )
            .await,
        Value::Null
    );
    assert_eq!(cards_in(&browser, "pending-list").await, 0);
    browser.close().await;
    api.stack.shutdown().await;
}

/// Waits for the page that says a link was refused, checks its words, and answers its
/// `data-reason` (`expired` or `invalid`).
async fn refused_page(browser: &Browser) -> String {
    let (reason, title) = browser
        .wait_for("the refused-link page", WAIT, || async {
            let e = browser
                .client
                .find(Locator::Id("link-refused"))
                .await
                .ok()?;
            if !e.is_displayed().await.ok()? {
                return None;
            }
            let reason = e.attr("data-reason").await.ok()??;
            let title = browser.text("[data-testid=\"link-refused-title\"]").await?;
            Some((reason, title))
        })
        .await;
    let expected = match reason.as_str() {
        "expired" => "This link has expired",
        "invalid" => "This link is no longer valid",
        other => panic!("data-reason is {other:?}"),
    };
    assert_eq!(title, expected);
    let advice = browser
        .text("[data-testid=\"link-refused-advice\"]")
        .await
        .unwrap_or_default();
    assert!(
        advice.contains("Ask your provider for a new link"),
        "{advice}"
    );
    // The list is gone, and so is the token.
    assert!(!browser
        .client
        .find(Locator::Css("[data-testid=\"agreements\"]"))
        .await
        .expect("the list's section")
        .is_displayed()
        .await
        .expect("displayed?"));
    assert_eq!(cards_in(browser, "pending-list").await, 0);
    assert_eq!(
        browser
            .eval(
                "return sessionStorage.getItem('agreements.portal.token');",
                vec![]
            )
            .await,
        Value::Null,
        "a refused token is not kept"
    );
    reason
}

/// Opens a portal URL (`…/portal#token=…`) in the browser as a new page load (from a blank
/// page: from the portal itself, a new fragment alone would not load the page again).
async fn open(browser: &Browser, url: &str) {
    browser
        .client
        .goto("about:blank")
        .await
        .expect("a blank page");
    browser.client.goto(url).await.expect("open the link");
}

async fn click(browser: &Browser, css: &str) {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// The events of an agreement's history (staff's view).
async fn history(api: &Api, agreement: &str) -> Vec<Value> {
    let h = api.get(&format!("/agreements/{agreement}/history")).await;
    assert_eq!(h.status, StatusCode::OK, "{:?}", h.body);
    h.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_e_mailed_link_declines_one_confirms_another_and_refused_links_say_why() {
    require_chromium();
    let started = Instant::now();
    // No authorizer cache: a link revoked while the page is open is refused on its next call.
    let api = Api::start_with(&[("PortalAuthorizerCacheSeconds", "0".into())]).await;
    let b = api.basics().await;
    let account = id(&b.account);
    let contact = id(&b.contact);
    let email = b.contact["email"].as_str().unwrap_or_default().to_string();
    let signer = format!(
        "{} {}",
        b.contact["first_name"].as_str().unwrap_or_default(),
        b.contact["last_name"].as_str().unwrap_or_default()
    );
    let second_template = api
        .create(
            "/agreement-templates",
            json!({"name": "Data Protection Addendum", "template_id": "dpa-2024",
                   "provider_id": id(&b.provider), "document_version": "2024-03",
                   "effective_date": "2024-03-01", "agreement_link": "https://example.com/dpa.pdf",
                   "display_inline": false, "portal_instructions": LINK_INSTRUCTIONS}),
        )
        .await;
    let declining = api
        .create(
            "/agreements",
            json!({"template_id": id(&b.template), "account_id": account}),
        )
        .await;
    let confirming = api
        .create(
            "/agreements",
            json!({"template_id": id(&second_template), "account_id": account}),
        )
        .await;
    let declining = id(&declining);
    let confirming_name = confirming["name"].as_str().unwrap_or_default().to_string();
    let confirming_version = confirming["document_version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let confirming = id(&confirming);
    assert_eq!(confirming_version, "2024-03");

    // Staff send the contact a link; it arrives by e-mail.
    let link = api
        .create(
            &format!("/accounts/{account}/portal-links"),
            json!({"contact_id": contact, "send": true}),
        )
        .await;
    assert_eq!(link["status"], "active", "{link:?}");
    assert!(link["sent_at"].is_string(), "sent: {link:?}");
    assert!(link.get("send_error").is_none(), "{link:?}");
    let made_url = link["url"].as_str().unwrap_or_default().to_string();
    assert!(
        made_url.starts_with(&format!("{}/portal#token=pl1_", api.base)),
        "{made_url}"
    );
    let outbox = api.stack.outbox();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let mail = &outbox[0];
    assert_eq!(mail.to, vec![email.clone()]);
    let url = local_stack::ses::first_url(&mail.text)
        .unwrap_or_else(|| panic!("no link in the e-mail's text: {}", mail.text))
        .to_string();
    assert_eq!(url, made_url, "the e-mail carries the link staff made");
    assert!(
        mail.html.contains(&format!("href=\"{url}\"")),
        "{}",
        mail.html
    );

    // The customer follows it and sees both pending agreements.
    let browser = Browser::start().await;
    open(&browser, &url).await;
    browser
        .wait_for("the two pending agreements", WAIT, || async {
            (cards_in(&browser, "pending-list").await == 2).then_some(())
        })
        .await;
    assert_eq!(cards_in(&browser, "accepted-list").await, 0);
    assert!(!exists(&browser, "#link-refused:not([hidden])").await);

    // Declines the first, with a reason.
    let d = card(&declining);
    let reason = "Our legal team must review clause 3 <first> & foremost.";
    assert!(
        !exists(
            &browser,
            &format!("{d} [data-testid=\"decline-form\"]:not([hidden])")
        )
        .await
    );
    click(&browser, &format!("{d} [data-testid=\"decline-button\"]")).await;
    browser
        .client
        .find(Locator::Css(&format!(
            "{d} [data-testid=\"decline-reason\"]"
        )))
        .await
        .expect("the reason box")
        .send_keys(reason)
        .await
        .expect("type the reason");
    click(&browser, &format!("{d} [data-testid=\"decline-submit\"]")).await;
    let declined_text = browser
        .wait_for("the agreement shown as declined", WAIT, || async {
            field(&browser, &d, "declined-on").await
        })
        .await;
    assert!(
        declined_text.starts_with("You declined this on "),
        "{declined_text}"
    );
    assert_eq!(
        field(&browser, &d, "status-badge").await.as_deref(),
        Some("Declined")
    );
    assert!(
        exists(&browser, &format!("[data-testid=\"pending-list\"] {d}")).await,
        "a declined agreement is still pending"
    );
    assert!(!exists(&browser, &format!("{d} [data-testid=\"decline-button\"]")).await);
    assert!(
        exists(&browser, &format!("{d} [data-testid=\"confirm-checkbox\"]")).await
            && exists(&browser, &format!("{d} [data-testid=\"confirm-button\"]")).await,
        "the customer may still confirm it"
    );
    let declined_day = attr(
        &browser,
        &format!("{d} [data-testid=\"declined-on\"] time"),
        "datetime",
    )
    .await;
    let stored = api.get(&format!("/agreements/{declining}")).await;
    assert_eq!(stored.body["status"], "pending", "{:?}", stored.body);
    assert!(stored.body["declined_on"].is_string(), "{:?}", stored.body);
    assert_eq!(declined_day.as_deref(), stored.body["declined_on"].as_str());
    let events = history(&api, &declining).await;
    let declined_event = events
        .iter()
        .find(|e| e["action"] == "declined")
        .unwrap_or_else(|| panic!("no declined event: {events:?}"));
    assert_eq!(
        declined_event["details"]["reason"], reason,
        "{declined_event:?}"
    );
    assert_eq!(declined_event["actor"]["kind"], "customer");
    assert_eq!(declined_event["to_status"], "pending");

    // Confirms the second.
    let c = card(&confirming);
    click(&browser, &format!("{c} [data-testid=\"confirm-checkbox\"]")).await;
    click(&browser, &format!("{c} [data-testid=\"confirm-button\"]")).await;
    browser
        .wait_for("the confirmed agreement under Accepted", WAIT, || async {
            let accepted = format!("[data-testid=\"accepted-list\"] {c}");
            (field(&browser, &accepted, "status-badge").await? == "Accepted").then_some(())
        })
        .await;
    assert_eq!(cards_in(&browser, "pending-list").await, 1);
    assert!(exists(&browser, &format!("[data-testid=\"pending-list\"] {d}")).await);
    assert_eq!(
        api.get(&format!("/agreements/{confirming}")).await.body["status"],
        "accepted"
    );

    let screenshot: PathBuf = workspace_root().join("tests/artifacts/portal-declined.png");
    browser.full_page_screenshot(&screenshot).await;
    println!("screenshot: {}", screenshot.display());

    // The receipt goes to the signer through the e-mail queue and its worker.
    let receipt = browser
        .wait_for("the receipt e-mail", WAIT, || async {
            api.stack
                .outbox()
                .into_iter()
                .find(|m| m.subject.starts_with("Receipt:"))
        })
        .await;
    assert_eq!(receipt.to, vec![email.clone()]);
    assert!(
        receipt.subject.contains(&confirming_name),
        "{}",
        receipt.subject
    );
    for needle in [
        confirming_name.as_str(),
        signer.as_str(),
        email.as_str(),
        confirming_version.as_str(),
        confirming.as_str(),
    ] {
        assert!(
            receipt.text.contains(needle),
            "the receipt names {needle:?}:\n{}",
            receipt.text
        );
    }
    assert_eq!(
        api.stack
            .outbox()
            .iter()
            .filter(|m| m.subject.starts_with("Receipt:"))
            .count(),
        1,
        "one receipt, for the confirmed agreement only"
    );

    // A link revoked while its page is open: the next call is refused, and the page says so.
    let second = api
        .create(
            &format!("/accounts/{account}/portal-links"),
            json!({"contact_id": contact, "expires_in_days": 1}),
        )
        .await;
    let second_url = second["url"].as_str().unwrap_or_default().to_string();
    open(&browser, &second_url).await;
    browser
        .wait_for("the agreements through the second link", WAIT, || async {
            (cards_in(&browser, "accepted-list").await == 1
                && cards_in(&browser, "pending-list").await == 1)
                .then_some(())
        })
        .await;
    let revoked = api
        .post(&format!("/portal-links/{}/revoke", id(&second)), json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert_eq!(revoked.body["status"], "revoked");
    browser.client.refresh().await.expect("reload");
    assert_eq!(refused_page(&browser).await, "invalid");
    // And opened afresh from its URL.
    open(&browser, &second_url).await;
    assert_eq!(refused_page(&browser).await, "invalid");

    // An expired link. The API cannot make one (a link lives at least a day), and the token's
    // signature covers its `exp`, so a stored link cannot be aged either. The page reads `exp`
    // from the token's payload only to choose its words once the API has refused the token; so
    // this is a well-formed `pl1_` token of a real link, whose payload says it expired an hour
    // ago, under a signature that is not the stack's: the authorizer refuses it (403) and the
    // page says the link has expired.
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        - 3600;
    let payload = json!({"lid": id(&link), "aid": account, "cid": contact, "exp": exp});
    let expired = format!(
        "pl1_{}.{}",
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode("not the stack's signature")
    );
    let refused = api
        .call(Method::GET, "/portal/agreements", Some(&expired), None)
        .await;
    assert_eq!(refused.status.as_u16(), 403, "{:?}", refused.body);
    assert_eq!(refused.body, json!({"message": "Forbidden"}));
    open(&browser, &format!("{}/portal#token={expired}", api.base)).await;
    assert_eq!(refused_page(&browser).await, "expired");

    let screenshot: PathBuf = workspace_root().join("tests/artifacts/portal-link-expired.png");
    browser.full_page_screenshot(&screenshot).await;
    println!("screenshot: {}", screenshot.display());
    browser.close().await;
    api.stack.shutdown().await;
    println!("portal link journey: {:.1?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agreement_microsoft_must_accept_shows_microsofts_link_instead_of_the_confirm_button() {
    use fake_partner_center::{self as fake, FakePartnerCenter};
    require_chromium();
    let pc = FakePartnerCenter::start().await.expect("fake");
    let api = integration_tests::fake_partner_center::stack_for(&pc, &[]).await;
    let provider = api
        .create(
            "/providers",
            json!({"name": "Microsoft Partner Center", "kind": "automatic",
                   "platform": "microsoft_partner_center", "syncs_agreements": true}),
        )
        .await;
    let template = api
        .create(
            "/agreement-templates",
            json!({"name": "Microsoft Customer Agreement", "template_id": fake::MCA_TEMPLATE_ID,
                   "provider_id": provider["id"], "document_version": "2024-01",
                   "effective_date": "2024-01-01", "agreement_link": "https://aka.ms/customeragreement"}),
        )
        .await;
    let account = api
        .create(
            "/accounts",
            json!({"name": "Fabrikam", "country": "US", "language": "en-US"}),
        )
        .await;
    let contact = api
        .create(
            &format!("/accounts/{}/contacts", id(&account)),
            json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@fabrikam.example"}),
        )
        .await;
    let tenant = "5e0b7c2a-9d41-4c3e-8f6a-1b2c3d4e5f60";
    pc.add_customer(tenant, "Fabrikam", "fabrikam.onmicrosoft.com");
    api.create(
        "/provider-accounts",
        json!({"provider_id": id(&provider), "provider_specific_id": tenant, "name": "Fabrikam",
               "account_id": id(&account)}),
    )
    .await;
    let agreement = id(&api
        .create(
            "/agreements",
            json!({"template_id": id(&template), "account_id": id(&account)}),
        )
        .await);
    let token = customer_token(&id(&account), &id(&contact));

    let browser = Browser::start().await;
    open(&browser, &format!("{}/portal#token={token}", api.base)).await;
    let this = card(&agreement);
    browser
        .wait_for("the agreement's card", WAIT, || async {
            exists(
                &browser,
                &format!("{this} [data-testid=\"attestation-button\"]"),
            )
            .await
            .then_some(())
        })
        .await;
    assert!(
        !exists(
            &browser,
            &format!("{this} [data-testid=\"confirm-button\"]")
        )
        .await,
        "no local confirm button for an agreement Microsoft must accept"
    );
    click(
        &browser,
        &format!("{this} [data-testid=\"attestation-button\"]"),
    )
    .await;
    let link_css = format!("{this} [data-testid=\"attestation-link\"]");
    browser
        .wait_for("Microsoft's link", WAIT, || async {
            exists(&browser, &link_css).await.then_some(())
        })
        .await;
    let stored = api.get(&format!("/agreements/{agreement}")).await.body;
    let attestation_id = stored["attestation"]["attestation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        attr(&browser, &link_css, "href").await.as_deref(),
        Some(
            format!("https://cdn.partner.microsoft.com/mca/?attestationid={attestation_id}")
                .as_str()
        )
    );
    assert_eq!(
        attr(&browser, &link_css, "target").await.as_deref(),
        Some("_blank")
    );
    assert_eq!(pc.attestations().len(), 1);
    // Opened again, the page shows the live link at once, and no second attestation is made.
    open(&browser, &format!("{}/portal#token={token}", api.base)).await;
    browser
        .wait_for("the live link", WAIT, || async {
            exists(&browser, &link_css).await.then_some(())
        })
        .await;
    assert_eq!(pc.attestations().len(), 1);
    browser.close().await;
    api.stack.shutdown().await;
}
