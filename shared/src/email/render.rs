//! The e-mails' words: text and HTML bodies from the templates in `shared/templates/email/`,
//! every value escaped for where it goes (HTML-escaped in the HTML body, control characters
//! dropped from the subject so that no value can add a header or a line).

/// An e-mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One agreement an e-mail asks about.
#[derive(Debug, Clone)]
pub struct AgreementLine {
    pub name: String,
    pub document_version: String,
    /// For a new version the customer is asked to accept again: what changed.
    pub change_summary: Option<String>,
}

/// A link or reminder e-mail: the contact's personal portal link and what waits there.
#[derive(Debug, Clone)]
pub struct LinkMail {
    pub reminder: bool,
    pub contact_name: String,
    pub account_name: String,
    pub agreements: Vec<AgreementLine>,
    pub url: String,
    pub expires_on: String,
}

/// The receipt of an acceptance.
#[derive(Debug, Clone)]
pub struct ReceiptMail {
    pub contact_name: String,
    pub account_name: String,
    pub agreement_id: String,
    pub agreement_name: String,
    pub document_version: String,
    pub agreement_link: String,
    pub signer_name: String,
    pub signer_email: String,
    pub accepted_at: String,
}

const LINK_TXT: &str = include_str!("../../templates/email/link.txt");
const LINK_HTML: &str = include_str!("../../templates/email/link.html");
const REMINDER_TXT: &str = include_str!("../../templates/email/reminder.txt");
const REMINDER_HTML: &str = include_str!("../../templates/email/reminder.html");
const RECEIPT_TXT: &str = include_str!("../../templates/email/receipt.txt");
const RECEIPT_HTML: &str = include_str!("../../templates/email/receipt.html");

/// Escapes text for HTML content and attribute values.
pub fn html_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value for the text body: control characters other than newlines and tabs dropped.
fn text_value(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// A subject: one line, no control characters, at most 200 characters.
fn subject(value: &str) -> String {
    let one_line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// Fills `{{name}}` placeholders. `raw` values are fragments this module built (already
/// escaped); every other value goes through `escape`.
fn fill(
    template: &str,
    values: &[(&str, &str)],
    raw: &[(&str, &str)],
    escape: fn(&str) -> String,
) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &escape(value));
    }
    for (name, value) in raw {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

pub fn link_mail(mail: &LinkMail) -> Rendered {
    let count = mail.agreements.len();
    let partner_line = if count == 1 {
        format!(
            "Your provider asks {} to review and accept the following agreement:",
            mail.account_name
        )
    } else {
        format!(
            "Your provider asks {} to review and accept the following {count} agreements:",
            mail.account_name
        )
    };
    let partner_line_lower = partner_line.replacen("Your", "your", 1);
    let lines: Vec<String> = mail
        .agreements
        .iter()
        .map(|a| match &a.change_summary {
            Some(changed) => format!(
                "- {} (new version {}; what changed: {changed})",
                a.name, a.document_version
            ),
            None => format!("- {} (version {})", a.name, a.document_version),
        })
        .collect();
    let items: String = mail
        .agreements
        .iter()
        .map(|a| match &a.change_summary {
            Some(changed) => format!(
                "<li>{} <span style=\"color:#555\">(new version {}; what changed: {})</span></li>",
                html_escape(&a.name),
                html_escape(&a.document_version),
                html_escape(changed)
            ),
            None => format!(
                "<li>{} <span style=\"color:#555\">(version {})</span></li>",
                html_escape(&a.name),
                html_escape(&a.document_version)
            ),
        })
        .collect();
    let values = [
        ("contact_name", mail.contact_name.as_str()),
        ("partner_line", partner_line.as_str()),
        ("partner_line_lower", partner_line_lower.as_str()),
        ("url", mail.url.as_str()),
        ("expires_on", mail.expires_on.as_str()),
    ];
    let text_lines = lines.join("\n");
    let (text_template, html_template, subject_text) = if mail.reminder {
        (
            REMINDER_TXT,
            REMINDER_HTML,
            format!("Reminder: agreements to review for {}", mail.account_name),
        )
    } else {
        (
            LINK_TXT,
            LINK_HTML,
            format!("Agreements to review for {}", mail.account_name),
        )
    };
    Rendered {
        subject: subject(&subject_text),
        text: fill(
            text_template,
            &[
                values.as_slice(),
                &[("agreement_lines", text_lines.as_str())],
            ]
            .concat(),
            &[],
            text_value,
        ),
        html: fill(
            html_template,
            &values,
            &[("agreement_items", items.as_str())],
            html_escape,
        ),
    }
}

pub fn receipt_mail(mail: &ReceiptMail) -> Rendered {
    let values = [
        ("contact_name", mail.contact_name.as_str()),
        ("account_name", mail.account_name.as_str()),
        ("agreement_id", mail.agreement_id.as_str()),
        ("agreement_name", mail.agreement_name.as_str()),
        ("document_version", mail.document_version.as_str()),
        ("agreement_link", mail.agreement_link.as_str()),
        ("signer_name", mail.signer_name.as_str()),
        ("signer_email", mail.signer_email.as_str()),
        ("accepted_at", mail.accepted_at.as_str()),
    ];
    Rendered {
        subject: subject(&format!(
            "Receipt: {} accepted for {}",
            mail.agreement_name, mail.account_name
        )),
        text: fill(RECEIPT_TXT, &values, &[], text_value),
        html: fill(RECEIPT_HTML, &values, &[], html_escape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, account: &str) -> LinkMail {
        LinkMail {
            reminder: false,
            contact_name: name.into(),
            account_name: account.into(),
            agreements: vec![AgreementLine {
                name: "<b>MCA</b>".into(),
                document_version: "2024-01".into(),
                change_summary: None,
            }],
            url: "https://x.example/portal#token=pl1_a.b".into(),
            expires_on: "2026-12-16".into(),
        }
    }

    #[test]
    fn values_are_escaped_in_html_and_kept_in_text() {
        let r = link_mail(&link("Ada <script>alert(1)</script>", "O'Brien & Co"));
        assert!(r.html.contains("Ada &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("O&#39;Brien &amp; Co"));
        assert!(r.html.contains("&lt;b&gt;MCA&lt;/b&gt;"));
        assert!(r.text.contains("Ada <script>alert(1)</script>"));
        assert!(r.text.contains("https://x.example/portal#token=pl1_a.b"));
        assert!(r
            .html
            .contains("href=\"https://x.example/portal#token=pl1_a.b\""));
        assert!(!r.text.contains("{{") && !r.html.contains("{{"));
    }

    #[test]
    fn no_value_can_break_the_subject_line() {
        let r = link_mail(&link("Ada", "Evil\r\nBcc: victim@example.com"));
        assert!(!r.subject.contains('\r') && !r.subject.contains('\n'));
        assert_eq!(
            r.subject,
            "Agreements to review for Evil Bcc: victim@example.com"
        );
        let mut reminder = link("Ada", "Contoso");
        reminder.reminder = true;
        assert!(link_mail(&reminder).subject.starts_with("Reminder:"));
    }

    #[test]
    fn the_receipt_says_what_when_and_who() {
        let r = receipt_mail(&ReceiptMail {
            contact_name: "Ada Lovelace".into(),
            account_name: "Contoso".into(),
            agreement_id: "01ABC".into(),
            agreement_name: "Microsoft Customer Agreement".into(),
            document_version: "2024-01".into(),
            agreement_link: "https://example.com/mca?a=1&b=2".into(),
            signer_name: "Ada Lovelace".into(),
            signer_email: "ada@contoso.com".into(),
            accepted_at: "2026-12-02T10:00:00.000Z".into(),
        });
        for part in [
            "Microsoft Customer Agreement",
            "2024-01",
            "Ada Lovelace <ada@contoso.com>",
            "2026-12-02T10:00:00.000Z",
        ] {
            assert!(r.text.contains(part), "{part}");
        }
        assert!(r.html.contains("https://example.com/mca?a=1&amp;b=2"));
        assert!(!r.text.contains("{{") && !r.html.contains("{{"));
    }
}
