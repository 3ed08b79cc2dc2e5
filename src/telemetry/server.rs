//! The metrics and health HTTP endpoint: `/metrics`, `/health/live`, `/health/ready`,
//! and `/status` (the JSON `firetail status` reads).
//!
//! Bound to 127.0.0.1:9898 by default; a wider bind only when the configuration asks.
//! It answers from counters that are already current, so a scrape never waits on the
//! pipeline.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Observability;

/// Binds `addr` and serves until `shutdown`. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    obs: Observability,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("metrics endpoint: accept failed: {e}");
                        continue;
                    }
                },
                _ = shutdown.cancelled() => return,
            };
            let obs = obs.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let obs = obs.clone();
                    async move { Ok::<_, Infallible>(route(&obs, &req)) }
                });
                // A scraper hanging up mid-response is not worth a log line.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(bound)
}

fn route(obs: &Observability, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            obs.render(),
        ),
        "/health/live" => reply(
            StatusCode::OK,
            "application/json",
            r#"{"live":true}"#.into(),
        ),
        "/health/ready" => {
            let (ready, body) = obs.readiness();
            let code = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            reply(code, "application/json", body.to_string())
        }
        // Always 200: the verdict is in the body (`ready`), and a client that reads the
        // body anyway should not have to treat 503 as a transport error.
        "/status" => match serde_json::to_string(&obs.snapshot()) {
            Ok(body) => reply(StatusCode::OK, "application/json", body),
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("cannot encode the status: {e}\n"),
            ),
        },
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

fn reply(code: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
