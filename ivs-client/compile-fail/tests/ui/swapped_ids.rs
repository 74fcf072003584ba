// A stage ARN where the user id goes and the other way round: both calls
// must be refused by the compiler, not by the server at run time.
#![allow(dead_code)]
use ivs_client::{Client, StageArn, UserId};

async fn heartbeat(client: &Client, user: &UserId, stage: &StageArn) {
    let _ = client.viewers().heartbeat(stage, user).await;
}

fn start(client: &Client, user: UserId, stage: StageArn) {
    let _ = client.start_heartbeat(stage, user);
}

fn main() {}
