//! The `publish-events` function: the table's stream batches in, EventBridge events out (see
//! the library).

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::config::init_tracing();
    let bus = std::env::var("EVENT_BUS_NAME").map_err(|_| "EVENT_BUS_NAME is not set")?;
    let sdk = shared::config::tune_sdk(aws_config::defaults(aws_config::BehaviorVersion::latest()))
        .load()
        .await;
    let client = aws_sdk_eventbridge::Client::new(&sdk);
    let (client, bus) = (&client, bus.as_str());
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| async move {
            Ok::<_, std::convert::Infallible>(
                publish_events::handle(client, bus, event.payload).await,
            )
        },
    ))
    .await
}
