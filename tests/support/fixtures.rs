//! The records the `events/` fixtures name, written straight to a table so handlers find them.

use shared::model::{
    Account, Agreement, AgreementSource, AgreementTemplate, Contact, Id, Instant, NewAccount,
    NewContact, NewProvider, NewTemplate, Provider, ProviderKind,
};
use shared::services::agreements::{insert_agreement, AgreementRequest, Creation};
use shared::AppContext;

pub const PROVIDER: &str = "01J9AGREEMENTSPR0V1DER0001";
pub const ACCOUNT: &str = "01J9AGREEMENTSACC0VNT00001";
pub const TEMPLATE: &str = "01J9AGREEMENTST3MP1ATE0001";
pub const AGREEMENT: &str = "01HK153X00MPS2PSETHHE63CWC";
pub const CONTACT: &str = "01J9AGREEMENTSC0NTACT00001";
pub const CONTRACT: &str = "01J9AGREEMENTSC0NTRACT0001";

fn id(raw: &str) -> Id {
    Id::parse(raw).expect("fixture ids are ULIDs")
}

pub struct Seed {
    pub provider: Provider,
    pub account: Account,
    pub contact: Contact,
    pub template: AgreementTemplate,
    pub agreement: Option<Agreement>,
}

/// Writes the fixture provider, account, contact and template, and the agreement unless
/// `with_agreement` is false.
pub async fn seed(ctx: &AppContext, with_agreement: bool) -> Seed {
    let now = Instant::now();
    let mut provider = Provider::create(
        NewProvider {
            name: "Microsoft Partner Center".into(),
            kind: ProviderKind::Automatic,
            platform: Some("microsoft_partner_center".into()),
            syncs_agreements: true,
            attestation_method: Default::default(),
        },
        now,
    )
    .expect("valid provider");
    provider.id = id(PROVIDER);
    let mut account = Account::create(
        NewAccount {
            name: "Contoso Ltd".into(),
            email_domain: Some("contoso.com".into()),
            country: None,
            language: None,
        },
        now,
    )
    .expect("valid account");
    account.id = id(ACCOUNT);
    let mut contact = Contact::create(
        account.id.clone(),
        NewContact {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: "ada@contoso.com".into(),
            phone: None,
        },
        now,
    )
    .expect("valid contact");
    contact.id = id(CONTACT);
    let input: NewTemplate = serde_json::from_value(serde_json::json!({
        "name": "Microsoft Customer Agreement",
        "template_id": "117a69e4-4a61-4f32-a2b1-4a9a9f5f6c44",
        "provider_id": PROVIDER,
        "document_version": "2024-01",
        "effective_date": "2024-01-01",
        "agreement_link": "https://www.microsoft.com/licensing/docs/customeragreement",
        "display_inline": false
    }))
    .expect("valid template input");
    let mut template =
        AgreementTemplate::create(input, provider.id.clone(), now).expect("valid template");
    template.id = id(TEMPLATE);
    // A fixed creation time keeps the derived agreement id of the fixtures fixed too.
    template.created_at =
        serde_json::from_value(serde_json::json!("2024-01-01T00:00:00.000Z")).expect("an instant");
    let store = &ctx.store;
    store.create(&provider).await.expect("seed provider");
    store.create(&account).await.expect("seed account");
    store.create(&contact).await.expect("seed contact");
    store.create(&template).await.expect("seed template");
    let agreement = if with_agreement {
        // Agreement ids are derived from (template, account, generation); the fixture's id is
        // that of the first agreement of the fixture template for the fixture account.
        let expected = shared::services::agreements::slot_id(&template, &account.id, 0);
        assert_eq!(
            expected.as_str(),
            AGREEMENT,
            "events/ name agreement {AGREEMENT}; regenerate them with this id"
        );
        let request = AgreementRequest {
            account_id: account.id.clone(),
            name: None,
            executed_on: None,
            source: AgreementSource::Manual,
            actor: shared::model::Actor::system("test seed"),
            bulk: None,
        };
        match insert_agreement(store, &template, request).await {
            Ok(Creation::Created(a)) => Some(*a),
            other => panic!("seeding the agreement failed: {other:?}"),
        }
    } else {
        None
    };
    Seed {
        provider,
        account,
        contact,
        template,
        agreement,
    }
}
