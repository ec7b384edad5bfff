//! `BearerService` as a tower service, without a network: readiness is the
//! inner service's, and refused requests never reach the inner service.

use crate::common;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bearer_guard::{BearerLayer, Claims};
use common::issuer;
use http::{Request, Response, StatusCode, header};
use tower::{Layer, Service};

/// An inner service that is ready only when its gate is open, and counts calls.
#[derive(Clone, Default)]
struct Gate {
    open: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl Service<Request<()>> for Gate {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.open.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let sub = req
            .extensions()
            .get::<Claims>()
            .and_then(|c| c.subject().map(str::to_owned))
            .unwrap_or_default();
        ready(Ok(Response::new(sub)))
    }
}

fn request(token: Option<&str>) -> Request<()> {
    let mut b = Request::builder().uri("/");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(()).unwrap()
}

#[tokio::test]
async fn poll_ready_is_the_inner_services_readiness() {
    let gate = Gate::default();
    let mut svc = BearerLayer::new(issuer().validator()).layer(gate.clone());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_pending());
    gate.open.store(true, Ordering::SeqCst);
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let token = issuer().token().subject("svc").sign();
    let resp = svc.call(request(Some(&token))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.body(), "svc");
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refused_requests_never_reach_the_inner_service() {
    let gate = Gate::default();
    gate.open.store(true, Ordering::SeqCst);
    let mut svc = BearerLayer::new(issuer().validator()).layer(gate.clone());
    let expired = issuer().token().expires_in(-3600).sign();
    for req in [
        request(None),
        request(Some(&expired)),
        request(Some("garbage")),
    ] {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(svc.poll_ready(&mut cx).is_ready());
        let resp = svc.call(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.body().is_empty());
    }
    assert_eq!(gate.calls.load(Ordering::SeqCst), 0);
}
