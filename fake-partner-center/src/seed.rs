//! The demo customers `fake-partner-center --seed-demo` starts with.

use shared::connectors::{AgreementContact, ProviderAgreement};

use crate::{FakePartnerCenter, MCA_TEMPLATE_ID};

impl FakePartnerCenter {
    /// A few demo customers: one with an attested MCA, one that signed directly, the rest with
    /// nothing yet.
    pub fn seed_demo(&self) {
        let demo = [
            (
                "0c4e5b9a-1d2f-4a3b-8c7d-6e5f4a3b2c1d",
                "Contoso Ltd",
                "contoso.onmicrosoft.com",
            ),
            (
                "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                "Fabrikam Inc",
                "fabrikam.onmicrosoft.com",
            ),
            (
                "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
                "Northwind Traders",
                "northwindtraders.onmicrosoft.com",
            ),
            (
                "3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
                "Adventure Works",
                "adventureworks.onmicrosoft.com",
            ),
            (
                "4d5e6f7a-8b9c-4d0e-9f2a-3b4c5d6e7f8a",
                "Tailspin Toys",
                "tailspintoys.onmicrosoft.com",
            ),
        ];
        for (id, name, domain) in demo {
            self.add_customer(id, name, domain);
        }
        self.add_agreement(
            demo[0].0,
            &ProviderAgreement {
                template_id: MCA_TEMPLATE_ID.into(),
                agreement_type: "MicrosoftCustomerAgreement".into(),
                date_agreed: "2024-06-14T00:00:00Z".into(),
                primary_contact: Some(AgreementContact {
                    first_name: "Tania".into(),
                    last_name: "Carr".into(),
                    email: "tania.carr@contoso.example".into(),
                    phone_number: Some("+1 425 555 0100".into()),
                }),
            },
        );
        self.set_direct_signed(demo[1].0, true);
    }
}
