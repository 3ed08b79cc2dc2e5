//! What every AWS SDK destination shares: the [`PutClient`] glue ([`SdkDestination`]),
//! the SDK's own retries switched off ([`without_sdk_retries!`]), and the mapping of the
//! SDK's call errors to [`PutError`] (the SDKs use the same smithy error types).
//!
//! SDK retries are switched off whatever the caller configured: the SDK would re-send a
//! whole batch after a timeout or a throttle, duplicating records the service had
//! accepted; the sink retries exactly the failed records itself.
//!
//! The SDK folds some local failures into `DispatchFailure` / `ConstructionFailure`:
//! notably a credentials chain that found nothing. Those are recognised by their text
//! and reported as permanent with the code `CredentialsNotLoaded`, because they do not
//! heal by re-sending; the sink's slow permanent retry still picks up a later fix.

use std::future::Future;

use aws_sdk_firehose::config::http::HttpResponse;
use aws_sdk_firehose::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::client::{
    classify_code, CodeClass, DestinationLimits, PutClient, PutError, PutFuture, RecordResult,
};
use crate::OutRecord;

/// One batch's answer: an outcome per record, or how the whole call failed.
pub(crate) type PutResult = Result<Vec<RecordResult>, PutError>;

/// A destination built on an AWS SDK client. It names its limits and sends one batch;
/// [`PutClient`] (the boxed, object-safe form the sink holds) follows for every one of
/// them from the impl below, so a new SDK destination writes only what differs.
pub(crate) trait SdkDestination: Send + Sync + 'static {
    /// What one request may hold and how a record is counted against it.
    const LIMITS: &'static DestinationLimits;

    /// Frames `records` into one request to `stream`, sends it, and maps the answer to
    /// one outcome per record (see [`PutClient::put_batch`]).
    fn put<'a>(
        &'a self,
        stream: &'a str,
        records: &'a [OutRecord],
    ) -> impl Future<Output = PutResult> + Send + 'a;

    /// What an error code asks of the sender; the shared table unless the service's
    /// codes mean something else.
    fn classify(&self, code: &str) -> CodeClass {
        classify_code(code)
    }
}

impl<D: SdkDestination> PutClient for D {
    fn put_batch<'a>(&'a self, stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        Box::pin(self.put(stream, records))
    }

    fn limits(&self) -> &'static DestinationLimits {
        D::LIMITS
    }

    fn classify(&self, code: &str) -> CodeClass {
        SdkDestination::classify(self, code)
    }
}

/// A copy of an SDK client (`$sdk` names its crate) with the same credentials, region,
/// endpoint, HTTP client and timeouts, and the SDK's retries disabled.
macro_rules! without_sdk_retries {
    ($sdk:ident, $client:expr) => {{
        let config = $client.config().to_builder();
        let config = config.retry_config($sdk::config::retry::RetryConfig::disabled());
        $sdk::Client::from_conf(config.build())
    }};
}
pub(crate) use without_sdk_retries;

/// The firetail code for a call that got no answer in time.
pub const TIMEOUT_CODE: &str = "RequestTimeout";

/// Classifies one failed SDK call by the shared table of codes.
pub(crate) fn map_sdk_error<E>(err: SdkError<E, HttpResponse>) -> PutError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    map_sdk_error_with(err, classify_code)
}

/// Classifies one failed SDK call, service error codes by `classify`.
pub(crate) fn map_sdk_error_with<E>(
    err: SdkError<E, HttpResponse>,
    classify: fn(&str) -> CodeClass,
) -> PutError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let fallback = if status >= 500 {
                "InternalFailure"
            } else {
                "UnknownError"
            };
            let code = service.err().code().unwrap_or(fallback);
            let message = service
                .err()
                .message()
                .map_or(context.clone(), str::to_owned);
            PutError::classified(classify(code), code, message, Some(status))
        }
        SdkError::TimeoutError(_) => timeout(context),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => timeout(context),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
            if mentions_credentials(&context) =>
        {
            PutError::Permanent {
                code: "CredentialsNotLoaded".into(),
                message: context,
            }
        }
        SdkError::DispatchFailure(failure) => PutError::Transient {
            code: if failure.is_io() {
                "ConnectionError"
            } else {
                "DispatchFailure"
            }
            .into(),
            message: context,
            timeout: false,
        },
        SdkError::ConstructionFailure(_) => construction_failure(context),
        SdkError::ResponseError(response) => {
            let status = response.raw().status().as_u16();
            PutError::classified(
                classify("ResponseError"),
                "ResponseError",
                format!("HTTP {status}: {context}"),
                Some(status),
            )
        }
        _ => PutError::Transient {
            code: "UnknownError".into(),
            message: context,
            timeout: false,
        },
    }
}

fn timeout(message: String) -> PutError {
    PutError::Transient {
        code: TIMEOUT_CODE.into(),
        message,
        timeout: true,
    }
}

fn mentions_credentials(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("credential") || lower.contains("identity")
}

/// An SDK input that could not be built: a bug of ours, which no retry would fix.
pub(crate) fn construction_failure(err: impl std::fmt::Display) -> PutError {
    PutError::Permanent {
        code: "ConstructionFailure".into(),
        message: err.to_string(),
    }
}
