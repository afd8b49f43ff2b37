//! A provider's customer base for bulk tests, and a hand-driven worker over a real SQS queue.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use futures::StreamExt;
use shared::model::{
    Account, Agreement, AgreementFilter, AgreementTemplate, Id, Instant, NewAccount, NewProvider,
    NewProviderAccount, NewTemplate, Provider, ProviderAccount, ProviderKind,
};
use shared::queue::BulkQueue;
use shared::store::PageSpec;
use shared::AppContext;

use crate::{fresh_context, sqs, unique};

pub struct Customers {
    pub ctx: AppContext,
    pub queue_url: String,
    pub provider: Provider,
    pub template: AgreementTemplate,
    pub accounts: Vec<Account>,
}

/// A fresh table and queue, a provider with an active template, and `n` accounts that each
/// have one provider account of the provider.
pub async fn customers(n: usize) -> Customers {
    let ctx = fresh_context().await;
    let sqs = sqs().await;
    let queue_url = sqs
        .create_queue()
        .queue_name(unique("bulk"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let mut ctx = (*ctx).clone();
    ctx.bulk_queue = Some(BulkQueue::new(sqs, queue_url.clone()));
    let now = Instant::now();
    let provider = Provider::create(
        NewProvider {
            name: "Microsoft Partner Center".into(),
            kind: ProviderKind::Automatic,
            platform: Some("microsoft_partner_center".into()),
            syncs_agreements: false,
            attestation_method: Default::default(),
        },
        now,
    )
    .expect("provider");
    ctx.store.create(&provider).await.expect("write provider");
    let input: NewTemplate = serde_json::from_value(serde_json::json!({
        "name": "Microsoft Customer Agreement", "template_id": "mca",
        "provider_id": provider.id.as_str(), "document_version": "2024-01",
        "effective_date": "2024-01-01", "agreement_link": "https://example.com/mca"
    }))
    .expect("template input");
    let template = AgreementTemplate::create(input, provider.id.clone(), now).expect("template");
    ctx.store.create(&template).await.expect("write template");
    let mut accounts = Vec::with_capacity(n);
    let store = &ctx.store;
    // At most 64 accounts in flight: thousands of connections at once exhaust the endpoint.
    let written: Vec<Account> = futures::stream::iter((0..n).map(|i| {
        let provider = provider.id.clone();
        async move {
            let account = Account::create(
                NewAccount {
                    name: format!("Customer {i}"),
                    email_domain: None,
                    country: None,
                    language: None,
                },
                Instant::now(),
            )
            .expect("account");
            store.create(&account).await.expect("write account");
            let pa = ProviderAccount::create(
                provider,
                account.id.clone(),
                &NewProviderAccount {
                    provider_specific_id: format!("tenant-{i:06}"),
                    name: format!("Customer {i}"),
                    ..NewProviderAccount::default()
                },
                Instant::now(),
            )
            .expect("provider account");
            store.create(&pa).await.expect("write provider account");
            account
        }
    }))
    .buffered(64)
    .collect()
    .await;
    accounts.extend(written);
    // As the product's writes of provider accounts do: the provider keeps their count.
    ctx.store
        .add_provider_accounts(&provider.id, n as u64)
        .await
        .expect("count provider accounts");
    Customers {
        ctx,
        queue_url,
        provider,
        template,
        accounts,
    }
}

/// Receives up to ten messages as Lambda would hand them to the worker.
pub async fn receive(queue_url: &str) -> (SqsEvent, Vec<String>) {
    let out = sqs()
        .await
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    let mut event = SqsEvent::default();
    let mut receipts = Vec::new();
    for m in out.messages.unwrap_or_default() {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record.event_source = Some("aws:sqs".into());
        for (k, v) in m.attributes.unwrap_or_default() {
            record.attributes.insert(k.as_str().to_string(), v);
        }
        receipts.push(m.receipt_handle.unwrap_or_default());
        event.records.push(record);
    }
    (event, receipts)
}

pub async fn delete(queue_url: &str, receipt: &str) {
    sqs()
        .await
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .send()
        .await
        .expect("delete");
}

pub fn id(raw: &str) -> Id {
    Id::parse(raw).expect("an id")
}

/// Every agreement of the customers' template, read page by page from the table.
pub async fn agreements_of_template(c: &Customers) -> Vec<Agreement> {
    let filter = AgreementFilter {
        template_id: Some(c.template.id.clone()),
        ..AgreementFilter::default()
    };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = c
            .ctx
            .store
            .agreements(
                &filter,
                PageSpec {
                    limit: 500,
                    cursor: cursor.as_deref(),
                },
            )
            .await
            .expect("list agreements");
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}
