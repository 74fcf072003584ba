use reqwest::Method;

use crate::client::Call;
use crate::model::{PublisherToken, TokenRequest, ViewerToken};
use crate::retry::Idempotency;
use crate::{Client, Error};

/// Token endpoints; get it with [`Client::tokens`].
///
/// Token requests are not idempotent (each one mints a participant and
/// counts a viewer), so they are retried only when the server cannot have
/// acted: a connection that could not be made, or 429.
#[derive(Debug, Clone, Copy)]
pub struct TokensApi<'a> {
    client: &'a Client,
}

impl<'a> TokensApi<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        TokensApi { client }
    }

    /// `POST /api/token/publisher`: a token to broadcast to the master stage
    /// (or to the managed stage of [`TokenRequest::with_stage_arn`]).
    ///
    /// A publisher's `userId` may have at most
    /// [`UserId::MAX_PUBLISHER_LEN`](crate::model::UserId::MAX_PUBLISHER_LEN)
    /// (116) bytes, not the 121 a viewer's may: the server sends IVS
    /// `broadcaster-<userId>` and IVS allows 128 bytes in all. A longer id
    /// fails here with [`Error::InvalidArgument`], before anything is sent.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// use ivs_client::model::TokenRequest;
    /// let token = client.tokens().publisher(&TokenRequest::new("broadcaster-001".parse()?)).await?;
    /// assert_eq!(token.user_id, "broadcaster-broadcaster-001");
    /// # Ok(()) }
    /// ```
    pub async fn publisher(self, request: &TokenRequest) -> Result<PublisherToken, Error> {
        // The server would refuse it with 400; saying so here names the
        // real limit and spends no request (nor a retry) on it.
        request.user_id.fits_publisher()?;
        let call =
            Call::new(Method::POST, "/api/token/publisher", Idempotency::Unsafe).json(request)?;
        self.client.send_data(call).await
    }

    /// `POST /api/token/viewer`: a token to watch, on the stage the server
    /// assigns. The viewer counts from now on; keep it counted with
    /// heartbeats ([`Client::start_heartbeat`]) or use [`Client::join`],
    /// which does both.
    ///
    /// A viewer's `userId` has 1 to
    /// [`UserId::MAX_LEN`](crate::model::UserId::MAX_LEN) (121) bytes, which
    /// [`UserId`](crate::model::UserId) checks when it is made.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// use ivs_client::model::TokenRequest;
    /// let token = client.tokens().viewer(&TokenRequest::new("viewer-001".parse()?)).await?;
    /// println!("{} viewers on {}", token.viewer_count, token.stage_arn);
    /// # Ok(()) }
    /// ```
    pub async fn viewer(self, request: &TokenRequest) -> Result<ViewerToken, Error> {
        let call =
            Call::new(Method::POST, "/api/token/viewer", Idempotency::Unsafe).json(request)?;
        self.client.send_data(call).await
    }
}
