//! axum's extractors with their rejections turned into [`ApiError`], so that a bad path,
//! query or body gets the same JSON error shape as every other failure.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
};

use crate::error::ApiError;

/// `axum::extract::Path` answering rejections with [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query` answering rejections with [`ApiError`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The raw body, answering rejections (e.g. too large) with [`ApiError`].
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Bytes::from_request(req, state).await?))
    }
}
