//! The daemon's web server: routes for the pages and their JSON, one cached read per page
//! and `web.cache_seconds` for every viewer, and the headers that keep a browser from
//! running anything on them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;

use super::data::{self, Health, NightPage, RunPage};
use super::pages::{self, Links};
use crate::config::{Config, ConfigSource};
use crate::night::NightDate;
use crate::operator::overview::StatusJson;
use crate::service::Services;

/// What a page shows, cached.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Nights,
    Night(NightDate),
    Run(NightDate, u32),
}

#[derive(Clone)]
enum Cached {
    Nights(Arc<StatusJson>),
    Night(Arc<NightPage>),
    Run(Arc<Option<RunPage>>),
}

/// Page data read at most once per `fresh` for every viewer: the lock is held while a
/// value is read, so viewers arriving meanwhile wait for that read instead of making their
/// own; entries older than `fresh` are dropped at each read (a site shown for months keeps
/// only the pages still being looked at).
pub struct Snapshots<K, V> {
    fresh: Duration,
    entries: tokio::sync::Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone + Send + 'static> Snapshots<K, V> {
    pub fn new(fresh: Duration) -> Self {
        Snapshots { fresh, entries: tokio::sync::Mutex::new(HashMap::new()) }
    }

    /// The value of `key`: the cached one while fresh, else `read` (on a blocking thread).
    pub async fn get(&self, key: K, read: impl FnOnce() -> Result<V, String> + Send + 'static) -> Result<V, String> {
        let mut entries = self.entries.lock().await;
        if let Some((at, value)) = entries.get(&key)
            && at.elapsed() < self.fresh
        {
            return Ok(value.clone());
        }
        let value = tokio::task::spawn_blocking(read).await.map_err(|e| format!("reading the page's data failed: {e}"))??;
        let fresh = self.fresh;
        entries.retain(|_, (at, _)| at.elapsed() < fresh);
        entries.insert(key, (Instant::now(), value.clone()));
        Ok(value)
    }
}

/// The site: the daemon's configuration and the pages' data.
pub struct Site {
    config: Config,
    source: ConfigSource,
    health: Health,
    pages: Snapshots<Key, Cached>,
}

impl Site {
    pub fn new(config: Config, source: ConfigSource, health: Health) -> Arc<Self> {
        let pages = Snapshots::new(Duration::from_secs(u64::from(config.web.cache_seconds)));
        Arc::new(Site { config, source, health, pages })
    }

    fn config_file(&self) -> Option<String> {
        self.source.path().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string())
    }

    async fn get(&self, key: Key) -> Result<Cached, String> {
        let (config, source, health, config_file, wanted) = (self.config.clone(), self.source.clone(), self.health, self.config_file(), key.clone());
        self.pages
            .get(key, move || {
                let services = Services::open(config, &source).map_err(|e| e.to_string())?;
                Ok(match wanted {
                    Key::Nights => Cached::Nights(Arc::new(data::nights(&services, config_file, health).map_err(|e| e.to_string())?)),
                    Key::Night(night) => Cached::Night(Arc::new(data::night(&services, config_file, health, night).map_err(|e| e.to_string())?)),
                    Key::Run(night, run) => Cached::Run(Arc::new(data::run(&services, night, run).map_err(|e| e.to_string())?)),
                })
            })
            .await
    }
}

/// The routes: each page, its JSON under `/api`, the trace form, the graphs and PDFs.
pub fn router(site: Arc<Site>) -> Router {
    Router::new()
        .route("/", get(nights_page))
        .route("/api/nights", get(nights_json))
        .route("/night/{date}", get(night_page))
        .route("/api/night/{date}", get(night_json))
        .route("/night/{date}/run/{run}", get(run_page))
        .route("/api/night/{date}/run/{run}", get(run_json))
        .route("/trace", get(trace_page))
        .route("/api/trace", get(trace_json))
        .route("/file", get(file))
        .layer(axum::middleware::map_response(locked_down))
        .with_state(site)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    site: Arc<Site>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(site)).with_graceful_shutdown(shutdown).await
}

/// No script runs on these pages, whatever a value holds (a second wall behind escaping),
/// and nothing is loaded from elsewhere.
async fn locked_down(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    (status, Html(pages::problem(title, message).into_string())).into_response()
}

fn unavailable(why: String) -> Response {
    problem(StatusCode::SERVICE_UNAVAILABLE, "osa: cannot read the nights", &why)
}

fn no_such_night(text: &str, why: impl std::fmt::Display) -> Response {
    problem(StatusCode::NOT_FOUND, "osa: no such night", &format!("{text}: {why}"))
}

async fn nights_page(State(site): State<Arc<Site>>) -> Response {
    match site.get(Key::Nights).await {
        Ok(Cached::Nights(status)) => Html(pages::nights(&status, Links::Live, site.config.web.refresh_seconds).into_string()).into_response(),
        Ok(_) => unreachable!("the nights key holds the nights"),
        Err(why) => unavailable(why),
    }
}

async fn nights_json(State(site): State<Arc<Site>>) -> Response {
    match site.get(Key::Nights).await {
        Ok(Cached::Nights(status)) => Json(status.as_ref().clone()).into_response(),
        Ok(_) => unreachable!("the nights key holds the nights"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

async fn night_data(site: &Site, date: &str) -> Result<Arc<NightPage>, Response> {
    let night: NightDate = date.parse().map_err(|e| no_such_night(date, e))?;
    match site.get(Key::Night(night)).await {
        Ok(Cached::Night(page)) => Ok(page),
        Ok(_) => unreachable!("a night key holds a night"),
        Err(why) => Err(unavailable(why)),
    }
}

async fn night_page(State(site): State<Arc<Site>>, UrlPath(date): UrlPath<String>) -> Response {
    match night_data(&site, &date).await {
        Ok(page) => Html(pages::night(&page, Links::Live, site.config.web.refresh_seconds).into_string()).into_response(),
        Err(response) => response,
    }
}

async fn night_json(State(site): State<Arc<Site>>, UrlPath(date): UrlPath<String>) -> Response {
    match night_data(&site, &date).await {
        Ok(page) => Json(page.as_ref().clone()).into_response(),
        Err(response) => response,
    }
}

async fn run_data(site: &Site, date: &str, run: u32) -> Result<RunPage, Response> {
    let night: NightDate = date.parse().map_err(|e| no_such_night(date, e))?;
    match site.get(Key::Run(night, run)).await {
        Ok(Cached::Run(page)) => {
            page.as_ref().clone().ok_or_else(|| problem(StatusCode::NOT_FOUND, "osa: no such run", &format!("night {night} has no run {run:05}")))
        }
        Ok(_) => unreachable!("a run key holds a run"),
        Err(why) => Err(unavailable(why)),
    }
}

async fn run_page(State(site): State<Arc<Site>>, UrlPath((date, run)): UrlPath<(String, u32)>) -> Response {
    match run_data(&site, &date, run).await {
        Ok(page) => Html(pages::run(&page, Links::Live, site.config.web.refresh_seconds).into_string()).into_response(),
        Err(response) => response,
    }
}

async fn run_json(State(site): State<Arc<Site>>, UrlPath((date, run)): UrlPath<(String, u32)>) -> Response {
    match run_data(&site, &date, run).await {
        Ok(page) => Json(page).into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct TraceQuery {
    file: Option<String>,
}

/// The trace of a product inside the data root; a refusal names why.
async fn traced(site: &Site, file: &str) -> Result<Option<crate::provenance::trace::TraceStep>, (StatusCode, String)> {
    let path = super::inside_data_root(&site.config.paths.data_root, file.trim()).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let (config, source) = (site.config.clone(), site.source.clone());
    tokio::task::spawn_blocking(move || {
        let services = Services::open(config, &source).map_err(|e| e.to_string())?;
        data::trace_of(&services, &path).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|why| (StatusCode::SERVICE_UNAVAILABLE, why))
}

async fn trace_page(State(site): State<Arc<Site>>, Query(query): Query<TraceQuery>) -> Response {
    let Some(file) = query.file.filter(|f| !f.trim().is_empty()) else {
        return Html(pages::trace(None, Ok(None)).into_string()).into_response();
    };
    match traced(&site, &file).await {
        Ok(step) => Html(pages::trace(Some(&file), Ok(step.as_ref())).into_string()).into_response(),
        Err((status, why)) => (status, Html(pages::trace(Some(&file), Err(why)).into_string())).into_response(),
    }
}

async fn trace_json(State(site): State<Arc<Site>>, Query(query): Query<TraceQuery>) -> Response {
    let Some(file) = query.file else { return (StatusCode::BAD_REQUEST, "give ?file=PATH").into_response() };
    match traced(&site, &file).await {
        Ok(Some(step)) => Json(step).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, format!("no provenance recorded for {file}")).into_response(),
        Err((status, why)) => (status, why).into_response(),
    }
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
}

/// A graph or data-check PDF osa made, from inside the data root.
async fn file(State(site): State<Arc<Site>>, Query(query): Query<FileQuery>) -> Response {
    let (path, kind) = match super::shown_file(&site.config.paths.data_root, &query.path) {
        Ok(shown) => shown,
        Err(refused) => return problem(StatusCode::BAD_REQUEST, "osa: refused", &refused.to_string()),
    };
    match tokio::task::spawn_blocking(move || std::fs::read(&path).map_err(|e| (path, e)))
        .await
        .unwrap_or_else(|e| Err((PathBuf::new(), std::io::Error::other(e))))
    {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err((path, e)) => problem(StatusCode::NOT_FOUND, "osa: no such file", &format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_viewers_of_one_page_make_one_read() {
        let pages: Arc<Snapshots<u32, u32>> = Arc::new(Snapshots::new(Duration::from_secs(60)));
        let reads = Arc::new(AtomicUsize::new(0));
        let viewers: Vec<_> = (0..50)
            .map(|_| {
                let (pages, reads) = (pages.clone(), reads.clone());
                tokio::spawn(async move {
                    pages
                        .get(7, move || {
                            reads.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Ok(42)
                        })
                        .await
                })
            })
            .collect();
        for viewer in viewers {
            assert_eq!(viewer.await.unwrap(), Ok(42));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Another page is another read; a stale one is read again.
        let stale: Snapshots<u32, u32> = Snapshots::new(Duration::ZERO);
        for _ in 0..2 {
            let reads = reads.clone();
            stale.get(7, move || Ok(reads.fetch_add(1, Ordering::SeqCst) as u32)).await.unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }
}
