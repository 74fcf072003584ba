//! The API's real limits, checked before anything is sent.

use ivs_client::model::{IdError, TokenRequest, UserId};
use ivs_client::{Error, RetryPolicy};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{client, fixture};

#[tokio::test]
async fn a_publisher_id_over_116_bytes_is_refused_before_sending() {
    let server = MockServer::start().await;
    // The longest publisher id goes through: one request, and only that one.
    Mock::given(method("POST"))
        .and(path("/api/token/publisher"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fixture("token-publisher.response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server.uri(), RetryPolicy::none());

    // 117 bytes: a valid viewer id (up to 121), too long for a publisher,
    // whose IVS user id gets the 12 bytes of `broadcaster-`.
    let too_long = TokenRequest::new(UserId::new("p".repeat(117)).unwrap());
    let err = c
        .tokens()
        .publisher(&too_long)
        .await
        .expect_err("117 bytes");
    assert!(
        matches!(err, Error::InvalidArgument(IdError::TooLong { max: 116 })),
        "{err:?}"
    );
    assert!(err.to_string().contains("116"), "{err}");

    let longest = TokenRequest::new(UserId::new("p".repeat(116)).unwrap());
    c.tokens().publisher(&longest).await.expect("116 bytes");
    // Dropping the server checks `expect(1)`: the refused call sent nothing.
}
