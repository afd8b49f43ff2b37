//! A function's context makes no request at start: the cursor key is read from Secrets Manager on
//! the first list that needs it, and a failed read is not remembered. Against the local endpoint,
//! with the context built from the environment as a deployed function builds it.
//!
//! One test in its own binary: it sets the process's environment, which `from_env` reads.

use integration_tests::{endpoint, sdk_config, unique};
use shared::error::ServiceError;
use shared::model::Id;
use shared::store::{PageSpec, StoreError};
use shared::AppContext;

#[tokio::test]
async fn the_cursor_key_is_read_on_first_use_and_a_failed_read_is_tried_again() {
    let sdk = sdk_config().await;
    let dynamodb = shared::config::dynamodb_client(&sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let table = unique("lazy");
    shared::store::schema::create_table(&dynamodb, &table)
        .await
        .expect("table");
    let secret = unique("lazy-cursor-key");
    for (name, value) in [
        ("TABLE_NAME", table.as_str()),
        ("CURSOR_KEY_SECRET_ARN", secret.as_str()),
        ("AWS_ENDPOINT_URL", endpoint().as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ] {
        std::env::set_var(name, value);
    }

    // The secret does not exist yet: the context is still made, as no request is sent.
    let ctx = AppContext::from_env()
        .await
        .expect("a context without a request");
    let missing = Id::generate();
    let found: Option<shared::model::Agreement> = ctx
        .store
        .by_id(&missing)
        .await
        .expect("a read by id needs no key");
    assert!(found.is_none());
    let page = PageSpec {
        limit: 10,
        cursor: None,
    };
    ctx.store
        .providers(page)
        .await
        .expect("a first page with nothing after it seals no cursor");

    // A cursor to open needs the key, which cannot be read: a 500, not the caller's 400.
    let with_cursor = PageSpec {
        limit: 10,
        cursor: Some("bm90LWEtY3Vyc29y"),
    };
    let error = ServiceError::from(
        ctx.store
            .providers(with_cursor)
            .await
            .expect_err("the key is not there"),
    );
    assert!(
        matches!(error, ServiceError::Store(StoreError::Key(_))),
        "an unreadable key is the service's fault (a 500), not the caller's: {error:?}"
    );
    assert!(
        format!("{error:?}").contains("CURSOR_KEY_SECRET_ARN"),
        "the setting is named: {error:?}"
    );

    // Once the secret exists, the same context reads it on its next use: the failure was not
    // kept. The cursor is no cursor of this list, so now it is the caller's 400.
    secrets
        .create_secret()
        .name(&secret)
        .secret_string("k".repeat(64))
        .send()
        .await
        .expect("create the secret");
    let error = ServiceError::from(
        ctx.store
            .providers(with_cursor)
            .await
            .expect_err("a forged cursor"),
    );
    assert!(
        matches!(error, ServiceError::Validation(_)),
        "with the key read, a forged cursor is refused: {error:?}"
    );

    let _ = secrets
        .delete_secret()
        .secret_id(&secret)
        .force_delete_without_recovery(true)
        .send()
        .await;
    let _ = dynamodb.delete_table().table_name(&table).send().await;
}
