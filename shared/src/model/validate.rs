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

/// The officially assigned ISO 3166-1 alpha-2 country codes.
const ISO_3166_1_ALPHA_2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ \
BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO \
DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN \
HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT \
LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR \
NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN \
SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN \
VU WF WS YE YT ZA ZM ZW";

/// A country as an ISO 3166-1 alpha-2 code (`DE`, `us` → `US`), one that is assigned.
pub fn country(field: &str, value: &str) -> Result<String, ServiceError> {
    let v = value.trim().to_ascii_uppercase();
    if v.len() == 2
        && v.chars().all(|c| c.is_ascii_uppercase())
        && ISO_3166_1_ALPHA_2.split_whitespace().any(|c| c == v)
    {
        Ok(v)
    } else {
        Err(invalid(
            field,
            "must be an ISO 3166-1 alpha-2 country code such as `DE` or `US`",
        ))
    }
}

/// A language tag in the BCP 47 shape: a 2–3 letter language, then optional subtags of 1–8
/// letters or digits (`en`, `en-US`, `zh-Hant-TW`), written with the usual case (`en-US`).
pub fn language(field: &str, value: &str) -> Result<String, ServiceError> {
    let v = value.trim().replace('_', "-");
    let mut parts = v.split('-');
    let primary = parts.next().unwrap_or_default();
    let subtags: Vec<&str> = parts.collect();
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let subtags_ok = subtags.len() <= 4
        && subtags
            .iter()
            .all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if !primary_ok || !subtags_ok {
        return Err(invalid(
            field,
            "must be a language tag (BCP 47) such as `en`, `de-DE` or `zh-Hant-TW`",
        ));
    }
    let mut out = primary.to_ascii_lowercase();
    for s in subtags {
        out.push('-');
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) {
            out.push_str(&s.to_ascii_uppercase());
        } else if s.len() == 4 && s.chars().all(|c| c.is_ascii_alphabetic()) {
            let lower = s.to_ascii_lowercase();
            out.push_str(&lower[..1].to_ascii_uppercase());
            out.push_str(&lower[1..]);
        } else {
            out.push_str(&s.to_ascii_lowercase());
        }
    }
    Ok(out)
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

    #[test]
    fn countries_and_languages() {
        assert_eq!(country("c", " de ").ok().as_deref(), Some("DE"));
        assert_eq!(country("c", "US").ok().as_deref(), Some("US"));
        for bad in ["", "D", "DEU", "XX", "ZZ", "1A", "d e"] {
            assert!(country("c", bad).is_err(), "{bad}");
        }
        assert_eq!(language("l", "en").ok().as_deref(), Some("en"));
        assert_eq!(language("l", "EN_us").ok().as_deref(), Some("en-US"));
        assert_eq!(
            language("l", "zh-hant-tw").ok().as_deref(),
            Some("zh-Hant-TW")
        );
        for bad in [
            "",
            "e",
            "english",
            "en-",
            "en--US",
            "en-US-toolongsubtag",
            "1n",
            "en US",
        ] {
            assert!(language("l", bad).is_err(), "{bad}");
        }
    }
}
