//! E-mail through Amazon SES (API v2): the sender's address, the send itself, and what the
//! outcome means for "at most once".
//!
//! SES has no idempotency key, so a send is attempted exactly once per claim: the client makes
//! one attempt (no SDK retries), and an answer that was lost on the way back (a timeout, a broken
//! connection) is reported as [`SendError::Unknown`] — the e-mail may have gone — which the caller
//! records as failed rather than sending it again.

pub mod render;

use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

pub use render::Rendered;

/// The From of every e-mail: `agreements@contoso.com` or `Contoso Agreements <agreements@contoso.com>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderAddress {
    pub display: String,
    pub address: String,
}

impl SenderAddress {
    /// Parses `EMAIL_SENDER`; the error names what is wrong.
    pub fn parse(raw: &str) -> Result<SenderAddress, String> {
        let raw = raw.trim();
        let (name, address) = match (raw.find('<'), raw.strip_suffix('>')) {
            (Some(open), Some(inner)) => (inner[..open].trim(), &inner[open + 1..]),
            (None, None) => ("", raw),
            _ => return Err(format!("`{raw}` is neither `address` nor `Name <address>`")),
        };
        if name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '<' || c == '>')
        {
            return Err("the display name has characters an e-mail header cannot carry".into());
        }
        let address = crate::model::validate::email("EMAIL_SENDER", address.trim())
            .map_err(|_| format!("`{}` is not an e-mail address", address.trim()))?;
        Ok(SenderAddress {
            display: if name.is_empty() {
                address.clone()
            } else {
                format!("{name} <{address}>")
            },
            address,
        })
    }
}

/// Why a send did not go through.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Certainly not sent, and worth trying again later (throttled, sending paused, SES down).
    #[error("SES did not send the e-mail and may later: {0}")]
    NotSent(String),
    /// Refused for good (an address SES will not send to, a sender not verified).
    #[error("SES refused the e-mail: {0}")]
    Rejected(String),
    /// The answer was lost: the e-mail may or may not have gone.
    #[error("the outcome of the send is unknown: {0}")]
    Unknown(String),
}

/// Sends through SES v2.
#[derive(Debug, Clone)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
    sender: SenderAddress,
}

impl Mailer {
    /// One attempt per send (see the module's note), within the SDK's timeouts.
    pub fn new(sdk: &aws_config::SdkConfig, sender: SenderAddress) -> Mailer {
        let config = aws_sdk_sesv2::config::Builder::from(sdk)
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
            .build();
        Mailer {
            client: aws_sdk_sesv2::Client::from_conf(config),
            sender,
        }
    }

    pub fn sender(&self) -> &SenderAddress {
        &self.sender
    }

    /// Sends `mail` to `to`; answers SES's message id.
    pub async fn send(&self, to: &str, mail: &Rendered) -> Result<String, SendError> {
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::Rejected(e.to_string()))
        };
        let message = Message::builder()
            .subject(content(&mail.subject)?)
            .body(
                Body::builder()
                    .text(content(&mail.text)?)
                    .html(content(&mail.html)?)
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.sender.display)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_string()),
            Err(e) => Err(classify(e)),
        }
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(e: SdkError<E>) -> SendError {
    match &e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_string();
            let detail = format!(
                "{code}: {}",
                service.err().message().unwrap_or("no message")
            );
            match code.as_str() {
                "MessageRejected"
                | "MailFromDomainNotVerifiedException"
                | "BadRequestException"
                | "NotFoundException"
                | "InvalidParameterValue" => SendError::Rejected(detail),
                _ => SendError::NotSent(detail),
            }
        }
        // The request was never built: nothing left.
        SdkError::ConstructionFailure(_) => SendError::NotSent(format!("{e:?}")),
        _ => SendError::Unknown(format!("{e:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_addresses_are_parsed_or_named_wrong() {
        let plain = SenderAddress::parse("agreements@contoso.com").expect("valid");
        assert_eq!(plain.display, "agreements@contoso.com");
        let named =
            SenderAddress::parse(" Contoso Agreements <agreements@contoso.com> ").expect("valid");
        assert_eq!(named.address, "agreements@contoso.com");
        assert_eq!(named.display, "Contoso Agreements <agreements@contoso.com>");
        for bad in [
            "",
            "not-an-address",
            "Name <no-at-sign>",
            "Name agreements@contoso.com>",
            "Evil\r\nBcc: x <a@b.com>",
        ] {
            assert!(SenderAddress::parse(bad).is_err(), "{bad:?}");
        }
    }
}
