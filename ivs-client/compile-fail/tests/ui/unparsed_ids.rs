// Plain strings are not ids: they must be parsed (and so checked) first.
#![allow(dead_code)]
use ivs_client::Client;

async fn get(client: &Client) {
    let _ = client
        .stages()
        .get("arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8")
        .await;
}

async fn join(client: &Client) {
    let _ = client.join("viewer-001").await;
}

fn main() {}
