//! [`Bucket`]: the S3 requests the trigger makes on one bucket: check it (HeadBucket), list
//! everything under a prefix (ListObjectsV2, every page), and the `after:` actions, delete
//! and copy, both conditional on the ETag that was published so a newer version of the
//! object is never removed unseen. Consumes an `aws_sdk_s3::Client`; changes the bucket only
//! in [`Bucket::delete`] and [`Bucket::copy`].

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::DateTimeFormat;
use aws_sdk_s3::types::Object;

use crate::error::{S3Error, Target};
use crate::keys;

/// Keys per ListObjectsV2 page (S3's maximum).
const PAGE_SIZE: i32 = 1000;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key.
    pub key: String,
    /// Its ETag, without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: i64,
    /// Last-modified time, RFC 3339, when the server gave one.
    pub modified: Option<String>,
}

/// What a conditional delete or copy found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// The object has another ETag now (written again since it was listed): left alone.
    Changed,
    /// The object is gone already.
    Gone,
}

/// One bucket at one endpoint.
#[derive(Debug, Clone)]
pub struct Bucket {
    client: aws_sdk_s3::Client,
    name: String,
    endpoint: String,
    page_size: i32,
}

impl Bucket {
    /// `name` through `client`; `endpoint` is only used in messages.
    pub fn new(client: aws_sdk_s3::Client, name: &str, endpoint: &str) -> Self {
        Self {
            client,
            name: name.to_string(),
            endpoint: endpoint.to_string(),
            page_size: PAGE_SIZE,
        }
    }

    /// The same bucket, listed `page_size` keys per request (S3's maximum, 1000, by default).
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size.clamp(1, PAGE_SIZE);
        self
    }

    fn target<'a>(&'a self, operation: &'static str, key: Option<&'a str>) -> Target<'a> {
        Target {
            operation,
            bucket: &self.name,
            key,
            endpoint: &self.endpoint,
        }
    }

    /// Whether the bucket exists and these credentials may use it.
    pub async fn check(&self) -> Result<(), S3Error> {
        self.client
            .head_bucket()
            .bucket(&self.name)
            .send()
            .await
            .map_err(|e| S3Error::from_sdk(e, self.target("HeadBucket", None)))?;
        Ok(())
    }

    /// Every object under `prefix`, in key order, except [`keys::ignored`] ones.
    pub async fn list(
        &self,
        prefix: &str,
        moved_folder: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, S3Error> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.name)
            .prefix(prefix)
            .max_keys(self.page_size)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| S3Error::from_sdk(e, self.target("ListObjectsV2", None)))?;
            objects.extend(
                page.contents()
                    .iter()
                    .filter_map(object_info)
                    .filter(|o| !keys::ignored(&o.key, moved_folder)),
            );
        }
        Ok(objects)
    }

    /// Deletes `key` if its ETag is still `etag`. A server that does not implement
    /// conditional deletes (HTTP 501) gets a plain delete.
    pub async fn delete(&self, key: &str, etag: &str) -> Result<Outcome, S3Error> {
        let conditional = self
            .client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .if_match(format!("\"{etag}\""))
            .send()
            .await;
        let err = match conditional {
            Ok(_) => return Ok(Outcome::Done),
            Err(err) => err,
        };
        match status(&err) {
            Some(412) => return Ok(Outcome::Changed),
            Some(404) => return Ok(Outcome::Gone),
            Some(501) => {}
            _ => {
                return Err(S3Error::from_sdk(
                    err,
                    self.target("DeleteObject", Some(key)),
                ));
            }
        }
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| S3Error::from_sdk(e, self.target("DeleteObject", Some(key))))?;
        Ok(Outcome::Done)
    }

    /// Copies `key` to `destination` in the same bucket if its ETag is still `etag`.
    pub async fn copy(&self, key: &str, etag: &str, destination: &str) -> Result<Outcome, S3Error> {
        let result = self
            .client
            .copy_object()
            .bucket(&self.name)
            .key(destination)
            .copy_source(keys::copy_source(&self.name, key))
            .copy_source_if_match(format!("\"{etag}\""))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Outcome::Done),
            Err(err) => match status(&err) {
                Some(412) => Ok(Outcome::Changed),
                Some(404) if is_code(&err, "NoSuchKey") => Ok(Outcome::Gone),
                _ => Err(S3Error::from_sdk(err, self.target("CopyObject", Some(key)))),
            },
        }
    }
}

fn object_info(o: &Object) -> Option<ObjectInfo> {
    Some(ObjectInfo {
        key: o.key()?.to_string(),
        etag: keys::bare_etag(o.e_tag().unwrap_or_default()),
        size: o.size().unwrap_or_default(),
        modified: o
            .last_modified()
            .and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
    })
}

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn is_code<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
    code: &str,
) -> bool {
    err.as_service_error()
        .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
        == Some(code)
}
