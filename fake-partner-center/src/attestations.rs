//! Microsoft's enhanced attestation, as far as it is known: `POST /v1/attestations/enhanced`
//! (country, language, companyName, the signatory's names, e-mail and optional phone) answers
//! 201 `{attestationId, status: "LinkGenerated", …}`; `GET /v1/attestations/enhanced/{id}`
//! answers its status (LinkGenerated → CustomerAccepted → AgreementCreated; LinkExpired), the
//! customer's acceptance showing only after a configurable lag; creating the customer's agreement
//! with `attestationId` needs an accepted attestation. The test controls
//! `POST /_fake/attestations/{id}/accept` and `…/expire` play the customer and the clock.
//!
//! The error codes other than 600061 are the fake's own (`errorName` says what they mean).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Map, Value};

use crate::routes::{json_response, pc_error};
use crate::state::{lock, Shared, State};

/// The fake's own code for "the customer has not accepted this attestation (yet)".
pub const ATTESTATION_NOT_ACCEPTED: u64 = 600_070;
/// The fake's own code for "no such attestation".
pub const ATTESTATION_NOT_FOUND: u64 = 600_071;
/// The fake's own code for "the attestation's link expired".
pub const ATTESTATION_EXPIRED: u64 = 600_072;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    LinkGenerated,
    /// Accepted by the customer at this instant; shown after the lag.
    Accepted(Instant),
    AgreementCreated,
    LinkExpired,
}

#[derive(Debug, Clone)]
pub(crate) struct Attestation {
    pub(crate) id: String,
    /// The create request as received.
    pub(crate) request: Map<String, Value>,
    pub(crate) stage: Stage,
}

impl Attestation {
    /// The status Partner Center shows now.
    fn status(&self, lag: Duration) -> &'static str {
        match self.stage {
            Stage::LinkGenerated => "LinkGenerated",
            Stage::Accepted(at) if at.elapsed() >= lag => "CustomerAccepted",
            Stage::Accepted(_) => "LinkGenerated",
            Stage::AgreementCreated => "AgreementCreated",
            Stage::LinkExpired => "LinkExpired",
        }
    }

    fn answer(&self, lag: Duration) -> Value {
        let mut body = self.request.clone();
        body.insert("attestationId".into(), json!(self.id));
        body.insert("status".into(), json!(self.status(lag)));
        Value::Object(body)
    }
}

fn not_found() -> Response<Full<Bytes>> {
    pc_error(
        StatusCode::NOT_FOUND,
        ATTESTATION_NOT_FOUND,
        "AttestationNotFound",
        "The attestation was not found.",
    )
}

/// `POST /v1/attestations/enhanced`.
pub(crate) fn create(state: &Shared, body: &[u8]) -> Response<Full<Bytes>> {
    let invalid = |what: &str| {
        pc_error(
            StatusCode::BAD_REQUEST,
            400,
            "InvalidInput",
            &format!("The attestation is invalid: {what}."),
        )
    };
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
        return invalid("the body is not a JSON object");
    };
    let text = |name: &str| {
        input
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    for name in [
        "country",
        "language",
        "companyName",
        "signatoryFirstName",
        "signatoryLastName",
        "signatoryEmail",
    ] {
        if text(name).is_none() {
            return invalid(&format!("{name} is required"));
        }
    }
    if !text("country").is_some_and(|c| c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return invalid("country is an ISO 3166-1 alpha-2 code");
    }
    if !text("signatoryEmail").is_some_and(|e| e.contains('@')) {
        return invalid("signatoryEmail is not an e-mail address");
    }
    let attestation = Attestation {
        id: uuid_like(),
        request: input,
        stage: Stage::LinkGenerated,
    };
    let mut state = lock(state);
    let answer = attestation.answer(state.acceptance_lag);
    state.attestations.push(attestation);
    json_response(StatusCode::CREATED, &answer)
}

/// A GUID-shaped id, as Partner Center's are.
fn uuid_like() -> String {
    let n = ulid::Ulid::new().0;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (n >> 96) as u32,
        (n >> 80) as u16,
        ((n >> 68) as u16) & 0xfff,
        ((n >> 56) as u16) & 0xfff,
        (n as u64) & 0xffff_ffff_ffff
    )
}

/// `GET /v1/attestations/enhanced/{id}`.
pub(crate) fn get(state: &Shared, id: &str) -> Response<Full<Bytes>> {
    let state = lock(state);
    match state.attestations.iter().find(|a| a.id == id) {
        Some(a) => json_response(StatusCode::OK, &a.answer(state.acceptance_lag)),
        None => not_found(),
    }
}

/// The agreement creation's check of its `attestationId`: the customer's acceptance must show.
/// On success the attestation turns AgreementCreated (the caller then stores the agreement).
pub(crate) fn use_for_agreement(
    state: &mut State,
    id: &str,
) -> Result<(), Box<Response<Full<Bytes>>>> {
    let lag = state.acceptance_lag;
    let Some(a) = state.attestations.iter_mut().find(|a| a.id == id) else {
        return Err(Box::new(not_found()));
    };
    match a.status(lag) {
        "CustomerAccepted" | "AgreementCreated" => {
            a.stage = Stage::AgreementCreated;
            Ok(())
        }
        "LinkExpired" => Err(Box::new(pc_error(
            StatusCode::BAD_REQUEST,
            ATTESTATION_EXPIRED,
            "AttestationLinkExpired",
            "The attestation's link expired.",
        ))),
        _ => Err(Box::new(pc_error(
            StatusCode::BAD_REQUEST,
            ATTESTATION_NOT_ACCEPTED,
            "AttestationNotAccepted",
            "The customer has not accepted the agreement for this attestation.",
        ))),
    }
}

/// `POST /_fake/attestations/{id}/accept|expire`: the customer accepts, the link expires.
pub(crate) fn control(state: &Shared, id: &str, action: &str) -> Response<Full<Bytes>> {
    let mut state = lock(state);
    let lag = state.acceptance_lag;
    let Some(a) = state.attestations.iter_mut().find(|a| a.id == id) else {
        return not_found();
    };
    match (action, a.stage) {
        ("accept", Stage::LinkGenerated) => a.stage = Stage::Accepted(Instant::now()),
        ("accept", Stage::Accepted(_) | Stage::AgreementCreated) => {}
        ("accept", Stage::LinkExpired) => {
            return pc_error(
                StatusCode::CONFLICT,
                ATTESTATION_EXPIRED,
                "AttestationLinkExpired",
                "The attestation's link expired.",
            )
        }
        ("expire", Stage::LinkGenerated | Stage::Accepted(_)) => a.stage = Stage::LinkExpired,
        ("expire", _) => {}
        _ => {
            return pc_error(
                StatusCode::NOT_FOUND,
                404,
                "ResourceNotFound",
                "The requested resource was not found.",
            )
        }
    }
    json_response(StatusCode::OK, &a.answer(lag))
}

/// The controls' effect, for the library's callers: true when applied.
pub(crate) fn set_stage(state: &Shared, id: &str, action: &str) -> bool {
    control(state, id, action).status() == StatusCode::OK
}
