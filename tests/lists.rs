//! Lists of the keys-first indexes against the local endpoint: every agreement is in 16 shards
//! of the all-agreements collection, read as one list in creation order; an account's agreements
//! are one partition. Pages are walked to the end with small limits, so every page boundary
//! and shard cursor is crossed, with filters the index applies (template) and filters applied
//! to the items read (status).

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::fresh_context;
use shared::model::{
    Actor, Agreement, AgreementFilter, AgreementSource, AgreementStatus, AgreementTemplate, Day,
    HistoryAction, HistoryEvent, Id, Instant, NewTemplate,
};
use shared::store::{PageSpec, Store};

fn template(provider: &Id) -> AgreementTemplate {
    let input: NewTemplate = serde_json::from_value(serde_json::json!({
        "name": "Terms", "template_id": "terms", "provider_id": provider.as_str(),
        "document_version": "1", "effective_date": "2024-01-01",
        "agreement_link": "https://example.com/terms"
    }))
    .expect("template input");
    AgreementTemplate::create(input, provider.clone(), Instant::now()).expect("template")
}

/// Every page of `filter` at `limit` a page: the ids in the order listed.
async fn walk(store: &Store, filter: &AgreementFilter, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = store
            .agreements(
                filter,
                PageSpec {
                    limit,
                    cursor: cursor.as_deref(),
                },
            )
            .await
            .expect("a page");
        assert!(page.items.len() <= limit, "a page holds at most its limit");
        ids.extend(page.items.iter().map(|a| a.id.to_string()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
    panic!("the list did not end");
}

#[tokio::test]
async fn sharded_and_single_partition_lists_give_every_agreement_once_in_creation_order() {
    let ctx = fresh_context().await;
    let store = &ctx.store;
    let provider = Id::generate();
    let templates = [template(&provider), template(&provider)];
    for t in &templates {
        store.create(t).await.expect("template");
    }
    let accounts: Vec<Id> = (0..6).map(|_| Id::generate()).collect();
    let mut written: Vec<(String, Agreement)> = Vec::new();
    for i in 0..90usize {
        let t = &templates[i % 2];
        let pending = Agreement::pending(
            Id::generate(),
            t,
            accounts[i % 6].clone(),
            None,
            None,
            AgreementSource::Manual,
            Instant::now(),
        )
        .expect("agreement");
        let agreement = if i % 3 == 0 {
            pending
                .accepted(
                    Id::generate(),
                    Day::parse("2026-01-05").expect("day"),
                    Instant::now(),
                )
                .expect("accepted")
        } else {
            pending
        };
        let event = HistoryEvent::of_change(
            None,
            &agreement,
            HistoryAction::Created,
            Actor::system("lists test"),
            AgreementSource::Manual,
        );
        assert!(store
            .put_agreement_in_slot(&agreement, &[event])
            .await
            .expect("put")
            .is_none());
        let sort = format!("{}#{}", agreement.created_at, agreement.id);
        written.push((sort, agreement));
    }
    written.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = |keep: &dyn Fn(&Agreement) -> bool| -> Vec<String> {
        written
            .iter()
            .filter(|(_, a)| keep(a))
            .map(|(_, a)| a.id.to_string())
            .collect()
    };

    let all = AgreementFilter::default();
    assert_eq!(
        walk(store, &all, 7).await,
        expected(&|_| true),
        "all, 7 a page"
    );
    assert_eq!(
        walk(store, &all, 100).await,
        expected(&|_| true),
        "all, one page"
    );

    let of_template = AgreementFilter {
        template_id: Some(templates[1].id.clone()),
        ..AgreementFilter::default()
    };
    assert_eq!(
        walk(store, &of_template, 4).await,
        expected(&|a| a.template_id == templates[1].id),
        "a template's, filtered in the index"
    );

    let accepted = AgreementFilter {
        status: Some(AgreementStatus::Accepted),
        ..AgreementFilter::default()
    };
    assert_eq!(
        walk(store, &accepted, 4).await,
        expected(&|a| a.status == AgreementStatus::Accepted),
        "accepted ones, filtered on the items read"
    );

    let of_account = AgreementFilter {
        account_id: Some(accounts[2].clone()),
        status: Some(AgreementStatus::Pending),
        ..AgreementFilter::default()
    };
    assert_eq!(
        walk(store, &of_account, 2).await,
        expected(&|a| a.account_id == accounts[2] && a.status == AgreementStatus::Pending),
        "an account's pending ones (one partition)"
    );

    // What the table holds: no agreement in the template-keyed index, the all-agreements
    // entries spread over the shards, and nothing unset written as null at creation.
    let scan = ctx
        .store
        .client()
        .scan()
        .table_name(ctx.store.table())
        .filter_expression("#type = :agreement")
        .expression_attribute_names("#type", "type")
        .expression_attribute_values(":agreement", AttributeValue::S("agreement".into()))
        .send()
        .await
        .expect("scan");
    let items = scan.items();
    assert_eq!(items.len(), 90);
    let mut shards = std::collections::BTreeSet::new();
    for item in items {
        assert!(
            !item.contains_key("GSI2PK"),
            "agreements are not keyed by template"
        );
        assert!(
            !item.values().any(|v| matches!(v, AttributeValue::Null(_))),
            "no null attribute at creation: {item:?}"
        );
        if let Some(AttributeValue::S(shard)) = item.get("GSI3PK") {
            assert!(shard.starts_with("AGREEMENTS#"), "{shard}");
            shards.insert(shard.clone());
        }
    }
    assert!(
        shards.len() >= 12,
        "90 agreements over 16 shards land in most of them: {shards:?}"
    );
}
