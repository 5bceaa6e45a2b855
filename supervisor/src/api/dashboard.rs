//! The dashboard: static pages and their scripts and style, compiled into the binary so the
//! daemon needs no files, no CDN and no network to show it. The pages hold no data: the
//! scripts fetch everything from the API, with the API key when the daemon has one.
//!
//! The scripts are ES modules, one per concern, loaded by the browser as they are (no build
//! step): each page's entry module (`index.js`, `sessions.js`) imports the rest.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::api::ApiError;

const INDEX: &str = include_str!("../../assets/dashboard/index.html");
const SESSIONS: &str = include_str!("../../assets/dashboard/sessions.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `(name, content type, body)` of the file `name` of the dashboard's folder.
macro_rules! served {
    ($name:literal, $content_type:expr) => {
        (
            $name,
            $content_type,
            include_str!(concat!("../../assets/dashboard/", $name)),
        )
    };
}

/// Everything under `/assets/`: (name, content type, body).
const ASSETS: &[(&str, &str, &str)] = &[
    served!("app.css", CSS),
    served!("index.js", JS),
    served!("sessions.js", JS),
    served!("dashboard.js", JS),
    served!("layout.js", JS),
    served!("dom.js", JS),
    served!("format.js", JS),
    served!("api.js", JS),
    served!("stream.js", JS),
    served!("refresh.js", JS),
    served!("cards.js", JS),
    served!("outbox.js", JS),
    served!("actions.js", JS),
    served!("assignments.js", JS),
    served!("stats.js", JS),
    served!("activity.js", JS),
];

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // A new binary may bring new assets: browsers must check each time.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
}

pub async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub async fn sessions() -> impl IntoResponse {
    asset("text/html; charset=utf-8", SESSIONS)
}

/// A script or the style by name; 404 `asset_not_found` for any other name.
pub async fn named(Path(name): Path<String>) -> Result<impl IntoResponse, ApiError> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, content_type, body)| asset(content_type, body))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "asset_not_found",
                "the dashboard has no asset of that name",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module a served script imports is served too, so no page breaks on a missing one.
    #[test]
    fn every_imported_module_is_served() {
        let served = |name: &str| ASSETS.iter().any(|(n, _, _)| *n == name);
        let pages = [INDEX, SESSIONS];
        let scripts = ASSETS.iter().filter(|(_, t, _)| *t == JS).map(|a| a.2);
        for text in pages.into_iter().chain(scripts) {
            for (marker, end) in [
                ("from './", '\''),
                ("src=\"/assets/", '"'),
                ("href=\"/assets/", '"'),
            ] {
                for rest in text.split(marker).skip(1) {
                    let name = rest.split(end).next().unwrap_or_default();
                    assert!(served(name), "{name} is loaded but not served");
                }
            }
        }
    }

    /// A file added to the dashboard's folder but not to the table would never reach a page.
    #[test]
    fn every_file_of_the_dashboard_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/dashboard");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let page = name.ends_with(".html");
            assert!(
                page || ASSETS.iter().any(|(n, _, _)| *n == name),
                "{name} is not in ASSETS"
            );
        }
    }
}
