//! The customer endpoints: the paged customer list, a customer's agreements (read, and attested
//! with error 600061 for a second acceptance of the same contact) and its direct-signed status.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use crate::routes::{json_response, pc_error, query_pairs};
use crate::state::{lock, RecordedRequest, Shared};
use crate::USER_ID;

fn customer_not_found() -> Response<Full<Bytes>> {
    pc_error(
        StatusCode::NOT_FOUND,
        404,
        "CustomerNotFound",
        "The customer was not found.",
    )
}

/// `GET /v1/customers/{id}/directSignedMicrosoftCustomerAgreementStatus`.
pub(crate) fn direct_signed_status(state: &Shared, id: &str) -> Response<Full<Bytes>> {
    let state = lock(state);
    match state.customers.iter().find(|c| c.id == id) {
        Some(customer) => json_response(
            StatusCode::OK,
            &json!({ "isSigned": customer.direct_signed }),
        ),
        None => customer_not_found(),
    }
}

pub(crate) fn list_customers(state: &Shared, request: &RecordedRequest) -> Response<Full<Bytes>> {
    let query = query_pairs(request.query.as_deref());
    let Some(size) = query
        .get("size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| (1..=1000).contains(s))
    else {
        return pc_error(
            StatusCode::BAD_REQUEST,
            400,
            "InvalidInput",
            "size is required: a number from 1 to 1000.",
        );
    };
    let mut state = lock(state);
    let offset = if query
        .get("seekOperation")
        .is_some_and(|s| s.eq_ignore_ascii_case("next"))
    {
        let token = request.header("ms-continuationtoken").unwrap_or_default();
        match state.continuations.get(token) {
            Some(offset) => *offset,
            None => {
                return pc_error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "InvalidContinuationToken",
                    "The continuation token is invalid or expired.",
                )
            }
        }
    } else {
        0
    };
    let end = (offset + size).min(state.customers.len());
    let items: Vec<Value> = state
        .customers
        .get(offset..end)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "commerceId": format!("commerce-{}", c.id),
                "companyProfile": {
                    "tenantId": c.id,
                    "domain": c.domain,
                    "companyName": c.company_name,
                    "attributes": { "objectType": "CustomerCompanyProfile" },
                },
                "relationshipToPartner": "reseller",
                "attributes": { "objectType": "Customer" },
            })
        })
        .collect();
    let mut links = json!({
        "self": { "uri": format!("/customers?size={size}"), "method": "GET", "headers": [] },
    });
    if end < state.customers.len() {
        let token = format!("{},{}", ulid::Ulid::new(), end);
        state.continuations.insert(token.clone(), end);
        // Partner Center's links are relative to the version root (no /v1).
        links["next"] = json!({
            "uri": format!("/customers?size={size}&seekOperation=Next"),
            "method": "GET",
            "headers": [{ "key": "MS-ContinuationToken", "value": token }],
        });
    }
    json_response(
        StatusCode::OK,
        &json!({
            "totalCount": items.len(),
            "items": items,
            "links": links,
            "attributes": { "objectType": "Collection" },
        }),
    )
}

fn agreement_type(item: &Value) -> Option<&str> {
    item.get("type")
        .or_else(|| item.get("agreementType"))
        .and_then(Value::as_str)
}

pub(crate) fn list_agreements(
    state: &Shared,
    request: &RecordedRequest,
    id: &str,
) -> Response<Full<Bytes>> {
    let query = query_pairs(request.query.as_deref());
    // Without agreementType Partner Center answers only Microsoft Cloud Agreements.
    let wanted = query
        .get("agreementType")
        .cloned()
        .unwrap_or_else(|| "MicrosoftCloudAgreement".to_string());
    let state = lock(state);
    let Some(customer) = state.customers.iter().find(|c| c.id == id) else {
        return customer_not_found();
    };
    let items: Vec<&Value> = customer
        .agreements
        .iter()
        .filter(|item| wanted == "*" || agreement_type(item) == Some(wanted.as_str()))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "totalCount": items.len(),
            "items": items,
            "attributes": { "objectType": "Collection" },
        }),
    )
}

fn contact_key(item: &Value) -> Option<(String, String, String, String)> {
    let contact = item.get("primaryContact")?;
    let text = |name: &str| {
        contact
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    Some((
        text("firstName"),
        text("lastName"),
        text("email").to_lowercase(),
        text("phoneNumber"),
    ))
}

pub(crate) fn create_agreement(state: &Shared, id: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let invalid = |what: &str| {
        pc_error(
            StatusCode::BAD_REQUEST,
            400,
            "InvalidInput",
            &format!("The agreement is invalid: {what}."),
        )
    };
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
        return invalid("the body is not a JSON object");
    };
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let Some(template_id) = text(input.get("templateId")) else {
        return invalid("templateId is required");
    };
    let Some(kind) = text(input.get("type")) else {
        return invalid("type is required");
    };
    let Some(date_agreed) = text(input.get("dateAgreed")) else {
        return invalid("dateAgreed is required");
    };
    if time::OffsetDateTime::parse(&date_agreed, &time::format_description::well_known::Rfc3339)
        .is_err()
    {
        return invalid("dateAgreed is not a UTC date time");
    }
    let Some(contact) = input.get("primaryContact").and_then(Value::as_object) else {
        return invalid("primaryContact is required");
    };
    let mut primary = serde_json::Map::new();
    for name in ["firstName", "lastName", "email"] {
        match text(contact.get(name)) {
            Some(value) => {
                primary.insert(name.to_string(), json!(value));
            }
            None => return invalid(&format!("primaryContact.{name} is required")),
        }
    }
    if let Some(phone) = text(contact.get("phoneNumber")) {
        primary.insert("phoneNumber".to_string(), json!(phone));
    }
    let mut item = json!({
        "userId": USER_ID,
        "primaryContact": primary,
        "templateId": template_id,
        "dateAgreed": date_agreed,
        "type": kind,
        "agreementLink": "https://aka.ms/customeragreement",
    });
    let attestation_id = text(input.get("attestationId"));
    let mut state = lock(state);
    if !state.customers.iter().any(|c| c.id == id) {
        return customer_not_found();
    }
    let key = contact_key(&item);
    let exists = state
        .customers
        .iter()
        .find(|c| c.id == id)
        .is_some_and(|c| c.agreements.iter().any(|e| contact_key(e) == key));
    // An agreement of the enhanced flow needs the customer's acceptance of its attestation.
    if let Some(attestation_id) = &attestation_id {
        if !exists {
            if let Err(refusal) = crate::attestations::use_for_agreement(&mut state, attestation_id)
            {
                return *refusal;
            }
        }
        item["attestationId"] = json!(attestation_id);
    }
    let Some(customer) = state.customers.iter_mut().find(|c| c.id == id) else {
        return customer_not_found();
    };
    if customer
        .agreements
        .iter()
        .any(|existing| contact_key(existing) == key)
    {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "code": 600061,
                "message": "A partner confirmed agreement already exists for the customer.",
                "description": "A partner confirmed agreement already exists for the customer.",
                "errorName": "PartnerConfirmedAgreementAlreadyExists",
                "isRetryable": false,
                "parameters": {},
                "errorMessageExtended": "InternalErrorCode=600061",
            }),
        );
    }
    customer.agreements.push(item.clone());
    json_response(StatusCode::CREATED, &item)
}
