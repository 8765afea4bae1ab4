//! The dashboard's built files (`dashboard/dist`) on the admin origin, as the dashboard's
//! serving contract asks (dashboard/README.md):
//! - every path that is not a file answers `index.html` (client-side routes such as
//!   `/realms/ID/roles`), except under `/assets/`, where a missing file is a 404;
//! - `index.html` (and every other unhashed file) with `Cache-Control: no-cache` and an ETag,
//!   so a new build shows up on reload; `assets/*` (hashed names) cached for a year, immutable.
//!
//! Where the files come from ([`Dashboard::locate`]), first match wins:
//! 1. `JUNCTION_DASHBOARD_DIR` (config `dashboard_dir`): that directory, read per request;
//! 2. the files embedded at build time (release builds; see `build.rs`);
//! 3. `<workspace>/dashboard/dist`, as found at build time, read per request (debug builds:
//!    `npm run build` shows up on reload).
//!
//! When a directory has no `index.html`, every page answers a short HTML page saying how to
//! build the dashboard.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/dashboard_files.rs"));
}

/// The default directory: the workspace's `dashboard/dist`.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboard/dist")
}

/// Where the dashboard's files are served from.
#[derive(Debug, Clone)]
pub enum Dashboard {
    /// Files compiled into the binary.
    Embedded,
    /// A directory read per request (it may not exist yet).
    Dir(PathBuf),
}

/// One file to serve.
struct File {
    bytes: Body,
    len: usize,
    etag: String,
}

impl Dashboard {
    /// See the module docs: the configured directory, else the embedded files, else the
    /// workspace's `dashboard/dist`.
    pub fn locate(configured: Option<&Path>) -> Dashboard {
        match configured {
            Some(dir) => Dashboard::Dir(dir.to_path_buf()),
            None if !embedded::FILES.is_empty() => Dashboard::Embedded,
            None => Dashboard::Dir(default_dir()),
        }
    }

    /// For the start-up banner: where the files come from, and whether the dashboard is
    /// built there.
    pub fn describe(&self) -> (String, bool) {
        match self {
            Dashboard::Embedded => (format!("embedded (from {})", embedded::EMBEDDED_FROM.unwrap_or("dashboard/dist")), true),
            Dashboard::Dir(dir) => (display(dir), dir.join("index.html").is_file()),
        }
    }

    async fn read(&self, rel: &str) -> Option<File> {
        match self {
            Dashboard::Embedded => embedded::FILES
                .iter()
                .find(|(p, _, _)| *p == rel)
                .map(|(_, bytes, etag)| File { bytes: Body::from(*bytes), len: bytes.len(), etag: (*etag).to_string() }),
            Dashboard::Dir(dir) => {
                let path = dir.join(rel);
                // Only regular files (not directories) under the directory.
                if !tokio::fs::metadata(&path).await.ok()?.is_file() {
                    return None;
                }
                let bytes = tokio::fs::read(&path).await.ok()?;
                let etag = format!("\"{:016x}\"", fnv1a(&bytes));
                Some(File { len: bytes.len(), bytes: Body::from(bytes), etag })
            }
        }
    }

    /// Answer a request outside `/v1` (the admin router's fallback).
    pub async fn serve(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")]).into_response();
        }
        let Some(rel) = relative_path(uri.path()) else {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        };
        let found = if rel.is_empty() { None } else { self.read(&rel).await };
        let (rel, file) = match found {
            Some(f) => (rel, f),
            // A missing hashed asset is a 404: answering index.html there would hand a
            // browser HTML for a script.
            None if rel.starts_with("assets/") => return (StatusCode::NOT_FOUND, "not found").into_response(),
            // Everything else is a client-side route.
            None => match self.read("index.html").await {
                Some(f) => ("index.html".to_string(), f),
                None => return self.not_built(),
            },
        };
        let immutable = rel.starts_with("assets/");
        let mut res = if !immutable && headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == file.etag.as_bytes()) {
            StatusCode::NOT_MODIFIED.into_response()
        } else if *method == Method::HEAD {
            let mut res = Response::new(Body::empty());
            res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(file.len));
            res
        } else {
            Response::new(file.bytes)
        };
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&rel)));
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
        );
        if let Ok(etag) = HeaderValue::from_str(&file.etag) {
            h.insert(header::ETAG, etag);
        }
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if rel.ends_with(".html") {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        }
        res
    }

    fn not_built(&self) -> Response {
        let dir = match self {
            Dashboard::Dir(d) => display(d),
            Dashboard::Embedded => "dashboard/dist".into(),
        };
        let page = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Junction: dashboard not built</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}code,pre{{background:#8882;padding:.1rem .3rem;border-radius:4px}}pre{{padding:.8rem}}</style></head>\
<body><h1>The dashboard is not built</h1>\
<p>Junction is running: the admin API is at <a href=\"/v1/openapi.json\"><code>/v1</code></a> and the router is listening. \
This page stands in for the dashboard, whose files were not found in <code>{}</code>.</p>\
<p>Build them (Node.js 20.19+), then reload this page:</p>\
<pre>cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build</pre>\
<p>Or start everything with <code>./dev.sh</code>, which builds the dashboard when it is missing. \
<code>JUNCTION_DASHBOARD_DIR</code> points the server at another directory.</p></body></html>\n",
            html_escape(&dir)
        );
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
            page,
        )
            .into_response()
    }
}

/// `/a/b.js` -> `a/b.js`; `None` for anything that could leave the directory or name a
/// hidden file (`..`, `.`-prefixed components, backslashes, NUL).
fn relative_path(path: &str) -> Option<String> {
    let decoded = percent_decode(path)?;
    let rel = decoded.trim_start_matches('/');
    let mut parts = Vec::new();
    for part in rel.split('/') {
        if part.is_empty() {
            continue;
        }
        if part.starts_with('.') || part.contains('\\') || part.contains('\0') {
            return None;
        }
        parts.push(part);
    }
    Some(parts.join("/"))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn display(dir: &Path) -> String {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()).display().to_string()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// FNV-1a, 64 bits, as `build.rs` computes for the embedded files.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        assert_eq!(relative_path("/").as_deref(), Some(""));
        assert_eq!(relative_path("/assets/index-x.js").as_deref(), Some("assets/index-x.js"));
        assert_eq!(relative_path("//realms//rlm_1/roles").as_deref(), Some("realms/rlm_1/roles"));
        assert_eq!(relative_path("/a%20b").as_deref(), Some("a b"));
        for bad in ["/../etc/passwd", "/assets/%2e%2e/x", "/.env", "/a\\b", "/%zz", "/a%00b"] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("assets/x.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    async fn get(d: &Dashboard, path: &str, headers: HeaderMap) -> Response {
        d.serve(&Method::GET, &path.parse().unwrap(), &headers).await
    }

    async fn body(res: Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn serves_a_directory_with_spa_fallback_and_cache_headers() {
        let dir = std::env::temp_dir().join(format!("junction-dashboard-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        let d = Dashboard::Dir(dir.clone());

        // Not built yet: the help page, everywhere.
        let res = get(&d, "/", HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(body(res).await.contains("npm ci &amp;&amp; npm run build"));

        std::fs::write(dir.join("index.html"), "<html>app</html>").unwrap();
        std::fs::write(dir.join("assets/app-1234.js"), "console.log(1)").unwrap();

        let res = get(&d, "/", HeaderMap::new()).await;
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let etag = res.headers()[header::ETAG].clone();
        assert_eq!(body(res).await, "<html>app</html>");

        // Client-side route: index.html.
        let res = get(&d, "/realms/rlm_1/roles", HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, "<html>app</html>");

        // Revalidation.
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(get(&d, "/", h).await.status(), StatusCode::NOT_MODIFIED);

        let res = get(&d, "/assets/app-1234.js", HeaderMap::new()).await;
        assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(body(res).await, "console.log(1)");

        assert_eq!(get(&d, "/assets/missing.js", HeaderMap::new()).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&d, "/../Cargo.toml", HeaderMap::new()).await.status(), StatusCode::NOT_FOUND);
        // A directory is not a file: the SPA fallback.
        assert_eq!(body(get(&d, "/assets", HeaderMap::new()).await).await, "<html>app</html>");

        let res = d.serve(&Method::POST, &"/".parse().unwrap(), &HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        let res = d.serve(&Method::HEAD, &"/".parse().unwrap(), &HeaderMap::new()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, "");

        let _ = std::fs::remove_dir_all(&dir);
    }
}
