//! Object-store URLs: which store a `--data` spec names, the key (or prefix, or glob) inside it,
//! and the `object_store` client built for it from the store's standard environment variables.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use crate::error::{Error, Result};

/// The URL schemes served by object storage.
pub(crate) const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "http", "https"];

/// Which kind of store a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Amazon S3 or an S3-compatible server (`s3://bucket/key`).
    S3,
    /// Google Cloud Storage (`gs://bucket/key`).
    Gcs,
    /// Azure Blob Storage (`az://container/key`, `abfs[s]://container@account.dfs.core.windows.net/key`).
    Azure,
    /// A plain HTTP(S) server (`https://host/path/file.parquet`).
    Http,
}

/// A parsed object-store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectUrl {
    /// The store's kind.
    pub kind: Kind,
    /// Everything before the key, without a trailing slash: `s3://bucket`, `https://host:8080`.
    pub base: String,
    /// The key (or prefix, or glob) inside the store, without a leading slash; may be empty.
    pub key: String,
}

impl ObjectUrl {
    /// Parse `spec` when it starts with one of [`SCHEMES`]; `None` for anything else (a local
    /// path, which may well contain a `:`).
    pub fn parse(spec: &str) -> Option<Result<Self>> {
        let (scheme, rest) = spec.split_once("://")?;
        let scheme_lc = scheme.to_ascii_lowercase();
        if !SCHEMES.contains(&scheme_lc.as_str()) {
            return None;
        }
        let kind = match scheme_lc.as_str() {
            "s3" | "s3a" => Kind::S3,
            "gs" => Kind::Gcs,
            "az" | "azure" | "abfs" | "abfss" => Kind::Azure,
            _ => Kind::Http,
        };
        let (authority, key) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            return Some(Err(Error::config("data", format!("'{spec}' names no bucket or host"))));
        }
        if key.split('/').any(|s| s == "." || s == "..") || key.contains("//") {
            return Some(Err(Error::config(
                "data",
                format!("'{spec}': a key may not hold '.', '..' or an empty segment"),
            )));
        }
        Some(Ok(ObjectUrl { kind, base: format!("{scheme_lc}://{authority}"), key: key.to_string() }))
    }

    /// The full name of `key` in this URL's store, as shown in errors and shard lists.
    pub fn name_of(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }

    /// The bucket (S3, GCS), container (Azure) or host (HTTP).
    fn authority(&self) -> &str {
        self.base.split_once("://").map_or("", |(_, a)| a)
    }

    /// Build the client for this URL's store: credentials, region and endpoint from the
    /// store's standard environment variables; every request bounded by `timeout` (retries
    /// with backoff included).
    pub fn build_store(&self, timeout: Duration) -> Result<Arc<dyn ObjectStore>> {
        install_crypto_provider();
        let retry = retry_config(timeout);
        let request = humantime_secs(request_timeout(timeout));
        let connect = humantime_secs(connect_timeout(timeout));
        let built: std::result::Result<Arc<dyn ObjectStore>, object_store::Error> = match self.kind {
            Kind::S3 => AmazonS3Builder::from_env()
                .with_bucket_name(self.authority())
                .with_retry(retry)
                .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), request)
                .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), connect)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            Kind::Gcs => GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(self.authority())
                .with_retry(retry)
                .with_config(GoogleConfigKey::Client(ClientConfigKey::Timeout), request)
                .with_config(GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout), connect)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            Kind::Azure => MicrosoftAzureBuilder::from_env()
                .with_url(self.base.clone())
                .with_retry(retry)
                .with_config(AzureConfigKey::Client(ClientConfigKey::Timeout), request)
                .with_config(AzureConfigKey::Client(ClientConfigKey::ConnectTimeout), connect)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            Kind::Http => HttpBuilder::new()
                .with_url(self.base.clone())
                .with_retry(retry)
                .with_config(ClientConfigKey::Timeout, request)
                .with_config(ClientConfigKey::ConnectTimeout, connect)
                .with_config(ClientConfigKey::AllowHttp, "true")
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        };
        built.map_err(|e| Error::config("data", format!("{}: cannot set up the store's client: {e}", self.base)))
    }
}

/// Retries with exponential backoff (100 ms doubling up to 2 s, or ¼ of `timeout` when that is
/// shorter) on timeouts, connection errors, 5xx and 429, none started later than ¾ of `timeout`
/// after the first attempt (no check after half of it, then at most one backoff). A store that
/// keeps refusing quickly (a 500 or 503 each time, a closed port) then ends in its own last
/// answer, which the error shows, before the whole read's bound (`timeout`,
/// [`super::runtime::bounded`]) cuts it off with only "no answer".
fn retry_config(timeout: Duration) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2).min(timeout / 4),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: timeout / 2,
    }
}

/// One request's bound: half the overall bound, so a store that stops answering mid-request
/// still gets one retry.
fn request_timeout(timeout: Duration) -> Duration {
    (timeout / 2).max(Duration::from_secs(1))
}

/// Connecting's bound: at most 5 s.
fn connect_timeout(timeout: Duration) -> Duration {
    request_timeout(timeout).min(Duration::from_secs(5))
}

/// A duration as `object_store`'s configuration parser reads it (`humantime`: `1500ms`).
fn humantime_secs(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// reqwest's rustls is built without a bundled crypto provider (see Cargo.toml): install
/// `ring` as the process's default once, unless the embedding program installed one already.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_schemes_and_leaves_local_paths_alone() {
        let u = ObjectUrl::parse("s3://bucket/a/b/*.parquet").unwrap().unwrap();
        assert_eq!((u.kind, u.base.as_str(), u.key.as_str()), (Kind::S3, "s3://bucket", "a/b/*.parquet"));
        let u = ObjectUrl::parse("gs://b").unwrap().unwrap();
        assert_eq!((u.kind, u.key.as_str()), (Kind::Gcs, ""));
        let u = ObjectUrl::parse("az://container/dir/").unwrap().unwrap();
        assert_eq!((u.kind, u.key.as_str()), (Kind::Azure, "dir/"));
        let u = ObjectUrl::parse("https://example.com:8443/x/f.parquet").unwrap().unwrap();
        assert_eq!((u.kind, u.base.as_str(), u.key.as_str()), (Kind::Http, "https://example.com:8443", "x/f.parquet"));
        assert_eq!(u.name_of("y.parquet"), "https://example.com:8443/y.parquet");
        assert!(ObjectUrl::parse("data/shards").is_none());
        assert!(ObjectUrl::parse("c:/data").is_none());
        assert!(ObjectUrl::parse("ftp://host/x").is_none());
    }

    #[test]
    fn refuses_urls_without_a_bucket_or_with_dot_segments() {
        for bad in ["s3:///key", "s3://b/../x", "s3://b/a//c", "gs://b/./x"] {
            let err = ObjectUrl::parse(bad).unwrap().unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
