//! Get a publisher (broadcaster) token and print what a broadcasting tool
//! needs: the stage, the token's expiry, the stage's WHIP endpoint, and the
//! settings to paste into OBS or the IVS broadcast SDK.
//!
//! ```text
//! cargo run --example publisher -- --user-id alice
//! ```
//!
//! The WHIP endpoint is read from the token itself: an IVS participant token
//! is a JWT whose payload carries a `whip_url` claim. The payload is only
//! decoded (base64url), not verified — the token is meant for IVS, which
//! checks the signature.

mod common;

use std::process::ExitCode;

use base64::Engine;
use clap::Parser;
use ivs_client::model::{Attributes, TokenRequest, UserId};

#[derive(Debug, Parser)]
#[command(about = "Get a publisher token and print the OBS / IVS broadcast SDK settings")]
struct Args {
    #[command(flatten)]
    connection: common::Connection,
    /// The publisher's user id (the server prefixes it with `broadcaster-`).
    #[arg(long, default_value = "broadcaster-001")]
    user_id: UserId,
    /// A participant attribute, `KEY=VALUE`; repeat for more.
    #[arg(long = "attribute", value_name = "KEY=VALUE", value_parser = common::parse_key_value)]
    attributes: Vec<(String, String)>,
}

/// The claims of the token's payload this example reads.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    whip_url: Option<String>,
    events_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client = match args.connection.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut request = TokenRequest::new(args.user_id);
    if !args.attributes.is_empty() {
        request = request.with_attributes(args.attributes.into_iter().collect::<Attributes>());
    }
    let token = match client.tokens().publisher(&request).await {
        Ok(t) => t,
        Err(e) => return common::fail(&e),
    };
    let claims = match decode_claims(&token.token) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: the token's payload cannot be read: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(whip_url) = claims.whip_url.filter(|u| !u.is_empty()) else {
        eprintln!("error: the token has no whip_url claim");
        return ExitCode::FAILURE;
    };

    let remaining = (token.expires_at.0 - chrono::Utc::now()).num_seconds();
    println!("publisher token for {}", token.user_id);
    println!("  stage        {}", token.stage_arn);
    println!("  participant  {}", token.participant_id);
    println!(
        "  expires      {} (in {})",
        token.expires_at.0.format("%Y-%m-%d %H:%M:%S UTC"),
        common::human_duration(remaining)
    );
    println!("  WHIP URL     {whip_url}");
    if let Some(events) = claims.events_url.filter(|u| !u.is_empty()) {
        println!("  events URL   {events}");
    }
    println!("  token        {}", token.token);
    println!();
    println!("OBS Studio 30+ (Settings → Stream):");
    println!("  Service       WHIP");
    println!("  Server        {whip_url}");
    println!("  Bearer Token  <the token above>");
    println!();
    println!("IVS Web Broadcast SDK (amazon-ivs-web-broadcast):");
    println!("  const stage = new IVSBroadcastClient.Stage(TOKEN, strategy);");
    println!("  await stage.join();   // TOKEN = the token above");
    println!();
    println!(
        "The token is valid until it expires; run this again for a new one before going live."
    );
    ExitCode::SUCCESS
}

/// Decodes the JWT's payload (the base64url middle part) without checking
/// the signature.
fn decode_claims(jwt: &str) -> Result<Claims, String> {
    let mut parts = jwt.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (expected three dot-separated parts)".into());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("payload is not base64url: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("payload is not JSON: {e}"))
}
