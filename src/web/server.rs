//! The daemon's web server: routes for the pages and their JSON, each page's data read at
//! most once per `web.cache_seconds` for every viewer, and the headers and checks that keep
//! a browser (or another site, through DNS rebinding) from doing anything with them but read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;

use super::PageError;
use super::data::{self, Health, NightPage, RunPage};
use super::pages::{self, Links};
use crate::config::{Config, ConfigSource};
use crate::night::NightDate;
use crate::operator::overview::StatusJson;
use crate::provenance::trace::TraceStep;
use crate::service::Services;

/// What a slot holds: the last read and when it was made (errors too, so a database that
/// is away is asked once per period, not once per viewer).
type Slot<V> = Arc<tokio::sync::Mutex<Option<(Instant, Result<V, PageError>)>>>;

/// Page data read at most once per `fresh` for every viewer. Each page has its own slot,
/// locked while it is read: viewers of that page arriving meanwhile wait for that read, other
/// pages are not held up; the read goes on to its end even if its viewer leaves. Slots of
/// pages nobody looked at for `fresh` are dropped.
pub struct Snapshots<K, V> {
    fresh: Duration,
    slots: std::sync::Mutex<HashMap<K, Slot<V>>>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone + Send + 'static> Snapshots<K, V> {
    pub fn new(fresh: Duration) -> Self {
        Snapshots { fresh, slots: std::sync::Mutex::new(HashMap::new()) }
    }

    /// The value of `key`: the last read while fresh, else `read` (on a blocking thread).
    pub async fn get(&self, key: K, read: impl FnOnce() -> Result<V, PageError> + Send + 'static) -> Result<V, PageError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let fresh = self.fresh;
            // A slot not yet filled belongs to a read about to start: kept.
            slots.retain(|_, slot| slot.try_lock().map_or(true, |held| held.as_ref().is_none_or(|(at, _)| at.elapsed() < fresh)));
            slots.entry(key).or_default().clone()
        };
        let fresh = self.fresh;
        let reading = tokio::spawn(async move {
            let mut held = slot.lock_owned().await;
            if let Some((at, value)) = held.as_ref()
                && at.elapsed() < fresh
            {
                return value.clone();
            }
            let value = tokio::task::spawn_blocking(read).await.unwrap_or_else(|e| Err(PageError::new("the page's data", e)));
            *held = Some((Instant::now(), value.clone()));
            value
        });
        reading.await.unwrap_or_else(|e| Err(PageError::new("the page's data", e)))
    }
}

/// The site: the daemon's configuration and the pages' data.
pub struct Site {
    config: Config,
    source: ConfigSource,
    health: Health,
    nights: Snapshots<(), Arc<StatusJson>>,
    night_pages: Snapshots<NightDate, Option<Arc<NightPage>>>,
    run_pages: Snapshots<(NightDate, u32), Option<Arc<RunPage>>>,
    /// Traces running at once: each hashes its product again (gigabytes, for a DL1 file).
    traces: tokio::sync::Semaphore,
}

impl Site {
    pub fn new(config: Config, source: ConfigSource, health: Health) -> Arc<Self> {
        let fresh = Duration::from_secs(u64::from(config.web.cache_seconds));
        Arc::new(Site {
            config,
            source,
            health,
            nights: Snapshots::new(fresh),
            night_pages: Snapshots::new(fresh),
            run_pages: Snapshots::new(fresh),
            traces: tokio::sync::Semaphore::new(2),
        })
    }

    /// The services for one read, on a blocking thread.
    fn services(config: Config, source: &ConfigSource, what: &str) -> Result<Services, PageError> {
        Services::open(config, source).map_err(|e| PageError::new(what, e))
    }

    async fn nights(&self) -> Result<Arc<StatusJson>, PageError> {
        let (config, source, health) = (self.config.clone(), self.source.clone(), self.health);
        self.nights
            .get((), move || {
                let services = Site::services(config, &source, "the nights")?;
                data::nights(&services, source.shown(), health).map(Arc::new).map_err(|e| PageError::new("the nights", e))
            })
            .await
    }

    async fn night(&self, night: NightDate) -> Result<Option<Arc<NightPage>>, PageError> {
        let (config, source, health) = (self.config.clone(), self.source.clone(), self.health);
        self.night_pages
            .get(night, move || {
                let what = format!("night {night}");
                let services = Site::services(config, &source, &what)?;
                Ok(data::night(&services, source.shown(), health, night).map_err(|e| PageError::new(what, e))?.map(Arc::new))
            })
            .await
    }

    async fn run(&self, night: NightDate, run: u32) -> Result<Option<Arc<RunPage>>, PageError> {
        let (config, source) = (self.config.clone(), self.source.clone());
        self.run_pages
            .get((night, run), move || {
                let what = format!("night {night} run {run:05}");
                let services = Site::services(config, &source, &what)?;
                Ok(data::run(&services, night, run).map_err(|e| PageError::new(what, e))?.map(Arc::new))
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
        .layer(axum::middleware::from_fn_with_state(site.clone(), addressed_to_us))
        .with_state(site)
}

/// Serves until the task is dropped (the daemon stops).
pub async fn serve(listener: tokio::net::TcpListener, site: Arc<Site>) -> std::io::Result<()> {
    axum::serve(listener, router(site)).await
}

/// No script runs on these pages, whatever a value holds (a second wall behind escaping),
/// and nothing is loaded from elsewhere. A PDF keeps the policy its handler gave it (the
/// browser's PDF viewer needs its own styles and frame).
async fn locked_down(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Only requests addressed to an IP address or `localhost`: a page elsewhere that points its
/// own name at this address (DNS rebinding) gets nothing. A site that names the machine adds
/// the name to `web.hostnames`.
async fn addressed_to_us(State(site): State<Arc<Site>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let ours = name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || site.config.web.hostnames.iter().any(|h| h == name);
    if !ours {
        return problem(StatusCode::MISDIRECTED_REQUEST, "osa: not this site", &format!("{host:?} is not a name of this site (web.hostnames)"));
    }
    next.run(request).await
}

fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    (status, Html(pages::problem(title, message).into_string())).into_response()
}

/// An answer for `/api`: the value, or `{"error": ...}` with its status.
fn api<T: serde::Serialize>(answer: Result<Option<T>, (StatusCode, String)>) -> Response {
    match answer {
        Ok(Some(value)) => Json(value).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "not found"}))).into_response(),
        Err((status, error)) => (status, Json(serde_json::json!({"error": error}))).into_response(),
    }
}

/// An answer for a page: the HTML, or a page saying what went wrong.
fn html(answer: Result<Option<String>, (StatusCode, String)>, missing: &str) -> Response {
    match answer {
        Ok(Some(page)) => Html(page).into_response(),
        Ok(None) => problem(StatusCode::NOT_FOUND, "osa: not found", missing),
        Err((status, why)) => problem(status, "osa: cannot show this page", &why),
    }
}

fn unavailable(e: PageError) -> (StatusCode, String) {
    (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn night_of(date: &str) -> Result<NightDate, (StatusCode, String)> {
    date.parse().map_err(|e| (StatusCode::NOT_FOUND, format!("{date}: {e}")))
}

async fn nights_page(State(site): State<Arc<Site>>) -> Response {
    let refresh = site.config.web.refresh_seconds;
    html(site.nights().await.map(|s| Some(pages::nights(&s, Links::Live, refresh).into_string())).map_err(unavailable), "")
}

async fn nights_json(State(site): State<Arc<Site>>) -> Response {
    api(site.nights().await.map(Some).map_err(unavailable))
}

async fn night_data(site: &Site, date: &str) -> Result<Option<Arc<NightPage>>, (StatusCode, String)> {
    site.night(night_of(date)?).await.map_err(unavailable)
}

async fn night_page(State(site): State<Arc<Site>>, UrlPath(date): UrlPath<String>) -> Response {
    let refresh = site.config.web.refresh_seconds;
    let page = night_data(&site, &date).await.map(|p| p.map(|p| pages::night(&p, Links::Live, refresh).into_string()));
    html(page, &format!("osa has never seen night {date}"))
}

async fn night_json(State(site): State<Arc<Site>>, UrlPath(date): UrlPath<String>) -> Response {
    api(night_data(&site, &date).await)
}

async fn run_data(site: &Site, date: &str, run: u32) -> Result<Option<Arc<RunPage>>, (StatusCode, String)> {
    site.run(night_of(date)?, run).await.map_err(unavailable)
}

async fn run_page(State(site): State<Arc<Site>>, UrlPath((date, run)): UrlPath<(String, u32)>) -> Response {
    let refresh = site.config.web.refresh_seconds;
    let page = run_data(&site, &date, run).await.map(|p| p.map(|p| pages::run(&p, Links::Live, refresh).into_string()));
    html(page, &format!("night {date} has no run {run:05}"))
}

async fn run_json(State(site): State<Arc<Site>>, UrlPath((date, run)): UrlPath<(String, u32)>) -> Response {
    api(run_data(&site, &date, run).await)
}

#[derive(Deserialize)]
struct TraceQuery {
    file: Option<String>,
}

/// The trace of a product inside the data root; a refusal names why.
async fn traced(site: &Site, file: &str) -> Result<Option<TraceStep>, (StatusCode, String)> {
    let path = super::inside_data_root(&site.config.paths.data_root, file.trim()).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let _turn = site.traces.acquire().await.map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let (config, source) = (site.config.clone(), site.source.clone());
    let what = format!("the provenance of {}", path.display());
    tokio::task::spawn_blocking(move || {
        let services = Site::services(config, &source, &what)?;
        data::trace_of(&services, &path).map_err(|e| PageError::new(what, e))
    })
    .await
    .unwrap_or_else(|e| Err(PageError::new("a trace", e)))
    .map_err(unavailable)
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
    let Some(file) = query.file else { return api::<()>(Err((StatusCode::BAD_REQUEST, "give ?file=PATH".to_string()))) };
    api(traced(&site, &file).await)
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
}

/// A provenance graph or data-check PDF osa made, read where it really is.
async fn file(State(site): State<Arc<Site>>, Query(query): Query<FileQuery>) -> Response {
    let (config, source) = (site.config.clone(), site.source.clone());
    let given = query.path.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, &'static str), (StatusCode, String)> {
        let services = Site::services(config, &source, &given).map_err(unavailable)?;
        let recorded = |path: &str| services.db.entity_at(path).ok().flatten().is_some();
        let (path, kind) = super::shown_file(&services.layout, &given, recorded).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
        let bytes = std::fs::read(&path).map_err(|e| (StatusCode::NOT_FOUND, format!("{}: {e}", path.display())))?;
        Ok((bytes, kind))
    })
    .await
    .unwrap_or_else(|e| Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{}: {e}", query.path))));
    match read {
        Ok((bytes, "application/pdf")) => {
            let policy = "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; img-src 'self'";
            ([(header::CONTENT_TYPE, "application/pdf"), (header::CONTENT_SECURITY_POLICY, policy)], bytes).into_response()
        }
        Ok((bytes, kind)) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err((status, why)) => problem(status, "osa: refused", &why),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_viewers_of_one_page_make_one_read_and_a_failed_read_is_kept_too() {
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
        // A database away: asked once for every viewer of the period.
        for _ in 0..3 {
            let reads = reads.clone();
            let answer = pages
                .get(8, move || {
                    reads.fetch_add(1, Ordering::SeqCst);
                    Err(PageError::new("night 2026-01-05", "database away"))
                })
                .await;
            assert_eq!(answer, Err(PageError::new("night 2026-01-05", "database away")));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        // A stale page is read again.
        let stale: Snapshots<u32, u32> = Snapshots::new(Duration::ZERO);
        for _ in 0..2 {
            let reads = reads.clone();
            stale.get(7, move || Ok(reads.fetch_add(1, Ordering::SeqCst) as u32)).await.unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_page_does_not_hold_up_another() {
        let pages: Arc<Snapshots<u32, u32>> = Arc::new(Snapshots::new(Duration::from_secs(60)));
        let slow = {
            let pages = pages.clone();
            tokio::spawn(async move {
                pages
                    .get(1, || {
                        std::thread::sleep(Duration::from_millis(800));
                        Ok(1)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        assert_eq!(pages.get(2, || Ok(2)).await, Ok(2));
        assert!(started.elapsed() < Duration::from_millis(500), "page 2 waited for page 1");
        assert_eq!(slow.await.unwrap(), Ok(1));
    }
}
