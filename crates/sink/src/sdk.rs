//! Maps the AWS SDK's call errors to [`PutError`], shared by every destination's client
//! (the SDKs use the same smithy error types).
//!
//! The SDK folds some local failures into `DispatchFailure` / `ConstructionFailure`:
//! notably a credentials chain that found nothing. Those are recognised by their text
//! and reported as permanent with the code `CredentialsNotLoaded`, because they do not
//! heal by re-sending; the sink's slow permanent retry still picks up a later fix.

use aws_sdk_firehose::config::http::HttpResponse;
use aws_sdk_firehose::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::client::{CodeClass, PutError};

/// The firetail code for a call that got no answer in time.
pub const TIMEOUT_CODE: &str = "RequestTimeout";

/// Classifies one failed SDK call by the shared table of codes.
pub(crate) fn map_sdk_error<E>(err: SdkError<E, HttpResponse>) -> PutError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    map_sdk_error_with(err, crate::client::classify_code)
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
