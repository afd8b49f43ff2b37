//! Checks shared by the entities' constructors; each failure names the field it is about.

use crate::error::ServiceError;

pub fn invalid(field: &str, why: &str) -> ServiceError {
    ServiceError::Validation(format!("`{field}` {why}"))
}

/// A required human-readable text: trimmed, not empty, at most `max` characters, no control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ServiceError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    optional_text(field, Some(trimmed), max).map(|t| t.unwrap_or_default())
}

pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ServiceError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(invalid(field, &format!("must be at most {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(Some(value.to_string()))
}

/// A DNS domain such as `contoso.com`, lower-cased.
pub fn domain(field: &str, value: &str) -> Result<String, ServiceError> {
    let d = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if d.len() > 253 || !d.contains('.') || !labels_ok {
        return Err(invalid(field, "must be a domain name such as contoso.com"));
    }
    Ok(d)
}

/// An e-mail address, with a light syntax check: one `@`, a domain after it.
pub fn email(field: &str, value: &str) -> Result<String, ServiceError> {
    let v = value.trim();
    match v.split_once('@') {
        Some((local, host))
            if !local.is_empty()
                && local.len() <= 64
                && !local.chars().any(|c| c.is_whitespace() || c == '@')
                && domain(field, host).is_ok() =>
        {
            Ok(format!("{local}@{}", host.to_ascii_lowercase()))
        }
        _ => Err(invalid(field, "must be an e-mail address")),
    }
}

/// An absolute http(s) URL.
pub fn url(field: &str, value: &str) -> Result<String, ServiceError> {
    let v = value.trim();
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && v.len() <= 2048
                && !rest.starts_with('/')
                && !v.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(v.to_string())
        }
        _ => Err(invalid(field, "must be an absolute http or https URL")),
    }
}

/// A machine word: lower-case letters, digits and `_`.
pub fn word(field: &str, value: &str, max: usize) -> Result<String, ServiceError> {
    let v = value.trim();
    if v.is_empty()
        || v.len() > max
        || !v
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(invalid(
            field,
            &format!("must be 1 to {max} lower-case letters, digits or `_`"),
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(
            text("name", "  Contoso ", 10).ok().as_deref(),
            Some("Contoso")
        );
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "abcdefghijk", 10).is_err());
        assert!(text("name", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn domains_and_emails() {
        assert_eq!(
            domain("d", "Contoso.COM").ok().as_deref(),
            Some("contoso.com")
        );
        for bad in ["contoso", "-a.com", "a..com", "a b.com", "", "http://x.com"] {
            assert!(domain("d", bad).is_err(), "{bad}");
        }
        assert_eq!(
            email("e", "Ada@Contoso.com").ok().as_deref(),
            Some("Ada@contoso.com")
        );
        for bad in [
            "ada",
            "@contoso.com",
            "ada@",
            "a da@contoso.com",
            "a@b@c.com",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_and_words() {
        assert!(url("u", "https://example.com/mca.pdf").is_ok());
        for bad in ["ftp://x", "https://", "javascript:alert(1)", "https:// x"] {
            assert!(url("u", bad).is_err(), "{bad}");
        }
        assert!(word("w", "microsoft_partner_center", 64).is_ok());
        assert!(word("w", "Microsoft", 64).is_err());
    }
}
