//! `strata searches list|show ID`: the searches of a strata database (V8's `searches`,
//! `search_results` and `scraping_jobs`), read-only. `list` pages the searches by id,
//! optionally of one status; `show` prints one search with its counts and a page of
//! its results in rank order, the next page `--after` the `RANK:ID` cursor it prints.
//! Both need an existing database with the reference schema (E2004 otherwise).

use clap::Subcommand;
use serde::Serialize;
use strata::Config;
use strata::repo::clock::to_millis;
use strata::repo::{PageRequest, ResultCursor, Search, SearchResult, SearchStatus};

use crate::audit::{Access, short_json, time_text, with_db};
use crate::output::{Outcome, Output, table};

/// The subcommands of `strata searches`.
#[derive(Debug, Subcommand)]
pub enum SearchesCommand {
    /// The searches in id order, one page at a time; the next page is `--after` the
    /// id printed under the table.
    List {
        /// Only searches in this state: queued, running, completed, failed, cancelled.
        #[arg(long, value_name = "STATE")]
        status: Option<String>,
        /// Searches per page (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// The cursor of the previous page (the `next` it printed).
        #[arg(long, value_name = "ID")]
        after: Option<i64>,
    },
    /// One search with its result and job counts and a page of its results in rank
    /// order (E4002 if there is no such search).
    Show {
        /// The search's id.
        id: i64,
        /// Results per page (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// The cursor of the previous page of results, `RANK:ID` as printed.
        #[arg(long, value_name = "RANK:ID")]
        after: Option<String>,
    },
}

/// The `searches list` document.
#[derive(Serialize)]
struct SearchPage {
    searches: Vec<Search>,
    next: Option<i64>,
}

/// The `searches show` document.
#[derive(Serialize)]
struct SearchShow {
    search: Search,
    results_stored: u64,
    jobs: u64,
    results: Vec<SearchResult>,
    next: Option<String>,
}

/// Runs one `strata searches` subcommand.
pub async fn run(command: &SearchesCommand, config: &Config, out: &Output) -> strata::Result<Outcome> {
    match command {
        SearchesCommand::List { status, limit, after } => {
            let status = status.as_deref().map(str::parse::<SearchStatus>).transpose()?;
            let page = PageRequest { after: *after, limit: *limit };
            let found = with_db(config, Access::Read, &["searches"], async |db| match status {
                Some(status) => db.searches().list_by_status(status, page).await,
                None => db.searches().list(page).await,
            })
            .await?;
            out.print(&SearchPage { searches: found.items, next: found.next }, render_list);
        }
        SearchesCommand::Show { id, limit, after } => {
            let after = after.as_deref().map(parse_cursor).transpose()?;
            let shown =
                with_db(config, Access::Read, &["searches", "search_results", "scraping_jobs"], async |db| {
                    let searches = db.searches();
                    let search = searches.get(*id).await?;
                    let page = searches.results_page(*id, PageRequest { after, limit: *limit }).await?;
                    Ok(SearchShow {
                        results_stored: searches.count_results(*id).await?,
                        jobs: searches.count_jobs(*id).await?,
                        search,
                        results: page.items,
                        next: page.next.map(|c| format!("{}:{}", c.rank, c.id)),
                    })
                })
                .await?;
            out.print(&shown, render_show);
        }
    }
    Ok(Outcome::Success)
}

/// `RANK:ID` as `searches show` prints it under a page of results; anything else is
/// E6001.
fn parse_cursor(text: &str) -> strata::Result<ResultCursor> {
    let parsed = text.split_once(':').and_then(|(rank, id)| Some((rank.parse().ok()?, id.parse().ok()?)));
    match parsed {
        Some((rank, id)) => Ok(ResultCursor { rank, id }),
        None => Err(strata::Error::invalid("--after", format!("`{text}` is not RANK:ID, such as 3:1042"))),
    }
}

fn render_list(page: &SearchPage) -> String {
    if page.searches.is_empty() {
        return "no searches\n".to_string();
    }
    let mut text = table(
        &["id", "status", "query", "results", "created at"],
        page.searches.iter().map(|s| {
            vec![
                s.id.to_string(),
                s.status.to_string(),
                s.query.clone(),
                s.result_count.to_string(),
                time_text(to_millis(s.created_at)),
            ]
        }),
    );
    if let Some(next) = page.next {
        text += &format!("next: --after {next}\n");
    }
    text
}

fn render_show(s: &SearchShow) -> String {
    let search = &s.search;
    let mut text = format!(
        "search {}: {}\nstatus: {}\nsources: {}\nresults: {} stored, {} scraping job(s)\ncreated: {}\n",
        search.id,
        search.query,
        search.status,
        short_json(&search.sources, 80),
        s.results_stored,
        s.jobs,
        time_text(to_millis(search.created_at))
    );
    if let Some(error) = &search.error {
        text += &format!("error: {error}\n");
    }
    if s.results.is_empty() {
        text += "no results on this page\n";
        return text;
    }
    text += &table(
        &["rank", "id", "url", "title"],
        s.results.iter().map(|r| {
            vec![r.rank.to_string(), r.id.to_string(), r.url.clone(), r.title.clone().unwrap_or_default()]
        }),
    );
    if let Some(next) = &s.next {
        text += &format!("next: --after {next}\n");
    }
    text
}
