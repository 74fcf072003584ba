//! IVS's paginated listings (ListStages, ListParticipants,
//! ListParticipantReplicas) read by one loop.

use std::future::Future;

use aws_sdk_ivsrealtime::operation::list_participant_replicas::ListParticipantReplicasOutput;
use aws_sdk_ivsrealtime::operation::list_participants::ListParticipantsOutput;
use aws_sdk_ivsrealtime::operation::list_stages::ListStagesOutput;

use crate::ivs::IvsError;

/// A listing stops after this many pages, so that a misbehaving endpoint
/// that keeps returning a `nextToken` cannot loop forever.
pub(super) const MAX_PAGES: usize = 1_000;

/// One page of a listing.
pub(super) trait Page {
    /// The `nextToken` the page carries, if any.
    fn next_page(&self) -> Option<&str>;
}

macro_rules! page {
    ($($output:ty),+) => {
        $(impl Page for $output {
            fn next_page(&self) -> Option<&str> {
                self.next_token()
            }
        })+
    };
}

page!(
    ListStagesOutput,
    ListParticipantsOutput,
    ListParticipantReplicasOutput
);

/// Reads a listing: `fetch` gets the previous page's `nextToken` (none for
/// the first page) and `each` gets every page, until a page has no (or an
/// empty) `nextToken` or `max_pages` pages were read. The first failure ends
/// the listing.
pub(super) async fn for_each_page<P, Fut>(
    max_pages: usize,
    mut fetch: impl FnMut(Option<String>) -> Fut,
    mut each: impl FnMut(P),
) -> Result<(), IvsError>
where
    P: Page,
    Fut: Future<Output = Result<P, IvsError>>,
{
    let mut next: Option<String> = None;
    for _ in 0..max_pages {
        let page = fetch(next.take()).await?;
        next = page
            .next_page()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        each(page);
        if next.is_none() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Option<&'static str>);

    impl Page for Fake {
        fn next_page(&self) -> Option<&str> {
            self.0
        }
    }

    /// Serves `tokens[i]` as page i's `nextToken`, recording the token each
    /// request carried.
    async fn read(
        tokens: &[Option<&'static str>],
        max_pages: usize,
    ) -> (Vec<Option<String>>, usize) {
        let mut asked = Vec::new();
        let mut seen = 0;
        for_each_page(
            max_pages,
            |next| {
                let i = asked.len();
                asked.push(next);
                let page = Fake(tokens.get(i).copied().flatten());
                async move { Ok(page) }
            },
            |_| seen += 1,
        )
        .await
        .unwrap();
        (asked, seen)
    }

    #[tokio::test]
    async fn follows_next_tokens_until_the_last_page() {
        let (asked, seen) = read(&[Some("a"), Some("b"), None], 10).await;
        assert_eq!(asked, vec![None, Some("a".into()), Some("b".into())]);
        assert_eq!(seen, 3);
    }

    #[tokio::test]
    async fn an_empty_token_ends_the_listing() {
        let (asked, seen) = read(&[Some(""), Some("never")], 10).await;
        assert_eq!(asked, vec![None]);
        assert_eq!(seen, 1);
    }

    #[tokio::test]
    async fn stops_at_the_page_bound() {
        let (asked, seen) = read(&[Some("a"), Some("b"), Some("c")], 2).await;
        assert_eq!(asked, vec![None, Some("a".into())]);
        assert_eq!(seen, 2);
    }

    #[tokio::test]
    async fn the_first_failure_ends_the_listing() {
        let mut calls = 0;
        let result = for_each_page(
            10,
            |_| {
                calls += 1;
                async { Err::<Fake, _>(IvsError::Unavailable("down".into())) }
            },
            |_| unreachable!("no page was read"),
        )
        .await;
        assert!(matches!(result, Err(IvsError::Unavailable(_))));
        assert_eq!(calls, 1);
    }
}
