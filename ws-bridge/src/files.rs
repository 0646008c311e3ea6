//! The web app's files (`--serve DIR`): tower-http's `ServeDir` on a file system backend
//! that keeps every path it opens or describes inside DIR, and the security headers on
//! every response.
//!
//! Refused requests answer 404, as a missing file does: a path with a component that
//! starts with '.'; a path that resolves, through symlinks, outside DIR or to a dot
//! component inside it; anything but a regular file or a directory (opening a FIFO would
//! wait for a writer); a name the file system cannot hold; and a directory redirect whose
//! Location a browser would read as another site (`//host/`, `/\host/`).

use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tower_http::services::fs::{Backend, DefaultServeDirFallback, TokioBackend, TokioFile};

type Body = UnsyncBoxBody<Bytes, io::Error>;

/// For the web app as `www/` builds it: its own scripts (WebAssembly needs
/// 'wasm-unsafe-eval'), styles, images (the `data:` favicon) and fetches; WebSockets to any
/// host (`?broker=` may name another bridge); the npm package's timer worker from a `blob:`
/// URL; no plugins, no `<base>` elsewhere, no framing by other pages.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
    script-src 'self' 'wasm-unsafe-eval'; \
    worker-src 'self' blob:; \
    connect-src 'self' ws: wss:; \
    img-src 'self' data:; \
    style-src 'self' 'unsafe-inline'; \
    object-src 'none'; \
    base-uri 'self'; \
    form-action 'self'; \
    frame-ancestors 'none'";

/// The files of one directory, served over HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    dir: ServeDir<DefaultServeDirFallback, Confined>,
}

impl Files {
    /// Serves `dir`: `index.html` for a directory, and a file's `.br` or `.gz` neighbour to a
    /// client that accepts it. `dir` is resolved on every request, so it may be replaced (or
    /// a symlink to it switched) while the bridge runs.
    pub(crate) fn new(dir: &Path) -> Files {
        let backend = Confined {
            // How ServeDir spells the directory in the paths it asks for.
            base: Path::new(".").join(dir),
        };
        let dir = ServeDir::with_backend(dir, backend)
            .precompressed_br()
            .precompressed_gzip()
            .append_index_html_on_directories(true);
        Files { dir }
    }

    /// Answers a GET or HEAD: the file, a redirect of a directory to its path with a
    /// trailing slash, or 404; Cache-Control on what is served (a year for `/assets/`,
    /// whose names change with their content), and the security headers on everything.
    pub(crate) async fn serve<B: Send + 'static>(&self, req: Request<B>) -> Response<Body> {
        let immutable = req.uri().path().starts_with("/assets/");
        let Ok(response) = self.dir.clone().oneshot(req).await;
        let mut response = response.map(BodyExt::boxed_unsync);
        let off_site = response
            .headers()
            .get(header::LOCATION)
            .is_some_and(|location| !stays_on_site(location.as_bytes()));
        if off_site {
            response = not_found();
        }
        let status = response.status();
        let headers = response.headers_mut();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            let cache = if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        }
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }
}

/// The file system under one directory, for ServeDir: a path it asks for is opened or
/// described only if [`resolve`] allows it; otherwise it is not found.
#[derive(Debug, Clone)]
struct Confined {
    base: PathBuf,
}

type Opening = Pin<Box<dyn Future<Output = io::Result<TokioFile>> + Send>>;
type Describing = Pin<Box<dyn Future<Output = io::Result<std::fs::Metadata>> + Send>>;

impl Backend for Confined {
    type File = TokioFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = Opening;
    type MetadataFuture = Describing;

    fn open(&self, path: PathBuf) -> Opening {
        let base = self.base.clone();
        Box::pin(async move {
            let (resolved, metadata) = blocking(move || resolve(&base, &path)).await?;
            if !metadata.is_file() {
                return Err(io::ErrorKind::NotFound.into());
            }
            TokioBackend.open(resolved).await.map_err(hide)
        })
    }

    fn metadata(&self, path: PathBuf) -> Describing {
        let base = self.base.clone();
        Box::pin(async move {
            let (_, metadata) = blocking(move || resolve(&base, &path)).await?;
            Ok(metadata)
        })
    }
}

/// `path` (under `base`) with its symlinks resolved, and what it is, if it may be served: no
/// component of it as asked or as resolved starts with '.', it resolves inside `base` (as
/// resolved now), and it is a regular file or a directory.
fn resolve(base: &Path, path: &Path) -> io::Result<(PathBuf, std::fs::Metadata)> {
    let asked = path
        .strip_prefix(base)
        .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
    if has_dot_component(asked) {
        return Err(io::ErrorKind::NotFound.into());
    }
    let root = std::fs::canonicalize(base).map_err(hide)?;
    // Whatever stops a path asked for from resolving (a name too long, a symlink loop, a
    // file where a directory should be, ...), it is not there to serve.
    let resolved =
        std::fs::canonicalize(path).map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
    let inside = resolved
        .strip_prefix(&root)
        .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
    if has_dot_component(inside) {
        return Err(io::ErrorKind::NotFound.into());
    }
    let metadata = std::fs::metadata(&resolved).map_err(hide)?;
    if !metadata.is_file() && !metadata.is_dir() {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok((resolved, metadata))
}

/// Runs file system calls off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|joined| Err(io::Error::other(joined)))
}

/// An error that comes of the path (a name too long, a file where a directory should be,
/// no permission, ...) as not found; others (EIO, out of file descriptors) stay what they
/// are.
fn hide(error: io::Error) -> io::Error {
    use io::ErrorKind::*;
    match error.kind() {
        NotFound | PermissionDenied | NotADirectory | IsADirectory | InvalidFilename
        | InvalidInput => NotFound.into(),
        _ => error,
    }
}

fn has_dot_component(path: &Path) -> bool {
    path.components().any(|component| match component {
        Component::Normal(name) => name.as_encoded_bytes().starts_with(b"."),
        Component::CurDir | Component::ParentDir => true,
        Component::Prefix(_) | Component::RootDir => false,
    })
}

/// True if a browser reads `location` as a path on this site: one '/', then visible ASCII
/// other than '\', which browsers read as '/' (and they drop tabs and line breaks, so
/// `/\t/host` would be `//host`).
fn stays_on_site(location: &[u8]) -> bool {
    location.first() == Some(&b'/')
        && location.get(1) != Some(&b'/')
        && location.iter().all(|&b| b.is_ascii_graphic() && b != b'\\')
}

fn not_found() -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_locations_on_this_site() {
        for location in ["/", "/chat/", "/a%2F%2Fb/", "/%5Cevil/", "/x/?q=1"] {
            assert!(stays_on_site(location.as_bytes()), "{location}");
        }
        for location in [
            "//evil.example/",
            "/\\evil/",
            "/x\\y/",
            "/\t/evil.example/",
            "https://evil.example/",
            "evil/",
            "",
        ] {
            assert!(!stays_on_site(location.as_bytes()), "{location:?}");
        }
    }

    #[test]
    fn finds_dot_components() {
        assert!(has_dot_component(Path::new(".env")));
        assert!(has_dot_component(Path::new("a/.git/config")));
        assert!(has_dot_component(Path::new("a/../b")));
        assert!(!has_dot_component(Path::new("a/b.c/d.")));
        assert!(!has_dot_component(Path::new("")));
    }
}
