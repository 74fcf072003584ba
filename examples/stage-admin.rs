//! Manage stages from the command line: list, create, get, rename, delete.
//!
//! ```text
//! cargo run --example stage-admin -- list
//! cargo run --example stage-admin -- create concert --tag Team=live --tag Tier=gold
//! cargo run --example stage-admin -- get    arn:aws:ivs:ap-northeast-1:123456789012:stage/abc
//! cargo run --example stage-admin -- rename arn:aws:ivs:ap-northeast-1:123456789012:stage/abc encore
//! cargo run --example stage-admin -- delete arn:aws:ivs:ap-northeast-1:123456789012:stage/abc
//! ```
//!
//! API errors are printed as `error: NOT_FOUND (404): <message> — <details>`
//! and end the program with exit code 1.

mod common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ivs_client::model::{CreateStageRequest, Tags, UpdateStageRequest};
use ivs_client::{Client, StageArn};

#[derive(Debug, Parser)]
#[command(about = "List, create, rename and delete ivs-server stages")]
struct Args {
    #[command(flatten)]
    connection: common::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every stage with its viewer count.
    List,
    /// Create a stage.
    Create {
        /// The stage's name.
        name: String,
        /// A tag, `KEY=VALUE`; repeat for more.
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = common::parse_key_value)]
        tags: Vec<(String, String)>,
    },
    /// Show one stage.
    Get {
        /// The stage ARN.
        arn: StageArn,
    },
    /// Rename a stage.
    Rename {
        /// The stage ARN.
        arn: StageArn,
        /// The new name.
        name: String,
    },
    /// Delete a stage (it must have no viewers; the master stage cannot be deleted).
    Delete {
        /// The stage ARN.
        arn: StageArn,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let client = match args.connection.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(&client, args.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => common::fail(&e),
    }
}

async fn run(client: &Client, command: Command) -> Result<(), ivs_client::Error> {
    match command {
        Command::List => list(client).await,
        Command::Create { name, tags } => {
            let tags: Tags = tags.into_iter().collect();
            let mut request = CreateStageRequest::new(name);
            if !tags.is_empty() {
                request = request.with_tags(tags);
            }
            let created = client.stages().create(&request).await?;
            println!("created stage {}", created.stage.name);
            println!("  arn   {}", created.stage.arn);
            println!("  tags  {}", format_tags(&created.stage.tags));
            Ok(())
        }
        Command::Get { arn } => {
            let info = client.stages().get(&arn).await?;
            println!("stage {}", info.stage.name);
            println!("  arn             {}", info.stage.arn);
            println!("  viewers         {}", info.viewer_count);
            println!(
                "  active session  {}",
                info.stage.active_session_id.as_deref().unwrap_or("-")
            );
            println!("  tags            {}", format_tags(&info.stage.tags));
            Ok(())
        }
        Command::Rename { arn, name } => {
            let updated = client
                .stages()
                .update(&arn, &UpdateStageRequest::new(name))
                .await?;
            println!("renamed stage {}", updated.stage.arn);
            println!("  name  {}", updated.stage.name);
            Ok(())
        }
        Command::Delete { arn } => {
            let deleted = client.stages().delete(&arn).await?;
            println!("deleted stage {arn}");
            println!("  server says  {}", deleted.message);
            Ok(())
        }
    }
}

async fn list(client: &Client) -> Result<(), ivs_client::Error> {
    let mut stages = Vec::new();
    let mut pages = client.stages().list().max_results(50).into_stream();
    while let Some(stage) = pages.next().await {
        stages.push(stage?);
    }
    let arn_width = stages
        .iter()
        .map(|s| s.arn.as_str().len())
        .max()
        .unwrap_or(0)
        .max("ARN".len());
    let name_width = stages
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    println!(
        "{:<arn_width$}  {:<name_width$}  {:>7}  {:<4}  {:<20}  TAGS",
        "ARN", "NAME", "VIEWERS", "AUTO", "CREATED"
    );
    for s in &stages {
        println!(
            "{:<arn_width$}  {:<name_width$}  {:>7}  {:<4}  {:<20}  {}",
            s.arn,
            s.name,
            s.viewer_count,
            if s.auto_scaled { "yes" } else { "no" },
            s.created_at.0.format("%Y-%m-%d %H:%M:%S"),
            format_tags(&s.tags),
        );
    }
    let viewers: u64 = stages.iter().map(|s| u64::from(s.viewer_count)).sum();
    println!("{} stages, {viewers} viewers", stages.len());
    Ok(())
}

fn format_tags(tags: &Tags) -> String {
    if tags.is_empty() {
        return "-".into();
    }
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
