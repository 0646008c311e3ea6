//! Subscribes to `greetings/#`, publishes one message at QoS 1 and prints it when it comes
//! back: the README's example.
//!
//! ```sh
//! cargo run -p mqttwire-tokio --example hello -- mqtt://127.0.0.1:1883
//! ```

use std::time::Duration;

use mqttwire::client::{ClientOptions, Event};
use mqttwire::{Properties, ProtocolVersion, Publish, QoS, Subscription, SubscriptionOptions};
use mqttwire::{TopicFilter, TopicName};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".to_owned());
    let endpoint = url.parse()?;
    let (client, mut events) =
        mqttwire_tokio::spawn(endpoint, ClientOptions::new(ProtocolVersion::V5, "example"));
    events.connected(Duration::from_secs(5)).await?;

    let filter = TopicFilter::new("greetings/#")?;
    let granted = client
        .subscribe(
            vec![Subscription {
                filter,
                options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            }],
            Properties::new(),
        )
        .await?;
    println!("subscribed: {granted:?}");

    let mut hello = Publish::new(TopicName::new("greetings/world")?, "hello");
    hello.qos = QoS::AtLeastOnce;
    let reason = client.publish(hello).await?; // returns on PUBACK
    println!("published: {reason:?}");

    while let Some(event) = events.next().await {
        if let Event::Message(message) = event {
            println!("{}: {:?}", message.topic, message.payload);
            break;
        }
    }
    client.disconnect(mqttwire::ReasonCode::SUCCESS).await?;
    Ok(())
}
