//! The destination registry: how the daemon reaches each destination a flow can name.
//!
//! A destination is three things, and only three: a sink module whose client implements
//! `firetail_sink::PutClient` (it frames requests, reads answers, carries its limits and
//! sorts its error codes), its keys in `firetail_config::keys` (the `DESTINATIONS` entry
//! and the variant of `Destination` they parse into), and one arm of [`connect`] below,
//! which builds the service's SDK client from the shared credentials and the service's
//! endpoint and region keys.
//!
//! SDK clients are built once per destination and shared by every flow sending there (one
//! connection pool per service). A destination first named by a reloaded configuration is
//! connected then; its endpoint and region keys are global, so they are the ones read at
//! start, like every global key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use aws_config::SdkConfig;
use firetail_config::{Destination, Settings};
use firetail_sink::PutClient;

use crate::aws::{AwsError, ServiceEndpoint};

/// One destination's shared SDK client, as the maker of each flow's put client (a flow to
/// CloudWatch Logs carries its own group and stream; `None` for a destination of another
/// kind, which [`connect`] never hands it).
type Connection = Arc<dyn Fn(&Destination) -> Option<Arc<dyn PutClient>> + Send + Sync>;

/// Every destination's connection, made when a flow first needs it.
pub struct Destinations {
    base: SdkConfig,
    /// The configuration read at start: the endpoint and region keys.
    settings: Settings,
    connected: Mutex<HashMap<&'static str, Connection>>,
}

impl Destinations {
    /// Connects to every destination the flows of `settings` name, so a missing region
    /// is an error at start rather than at a flow's first batch.
    pub fn connect_all(base: SdkConfig, settings: &Settings) -> Result<Destinations, AwsError> {
        let destinations = Destinations {
            base,
            settings: settings.clone(),
            connected: Mutex::new(HashMap::new()),
        };
        for flow in &settings.flows {
            destinations.connection(&flow.destination)?;
        }
        Ok(destinations)
    }

    /// The put client of one flow.
    pub fn put_client(&self, destination: &Destination) -> anyhow::Result<Arc<dyn PutClient>> {
        let connection = self
            .connection(destination)
            .with_context(|| format!("connecting to {}", destination.spec().describe()))?;
        connection(destination).with_context(|| {
            format!(
                "{} has no client for this destination",
                destination.spec().describe()
            )
        })
    }

    fn connection(&self, destination: &Destination) -> Result<Connection, AwsError> {
        let key = destination.spec().key;
        // A poisoned map only means a panic elsewhere mid-insert of a complete value.
        let mut connected = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(connection) = connected.get(key) {
            return Ok(connection.clone());
        }
        let connection = connect(destination, &self.base, &self.settings)?;
        connected.insert(key, connection.clone());
        Ok(connection)
    }
}

/// Where destinations are wired: one arm each.
fn connect(
    destination: &Destination,
    base: &SdkConfig,
    settings: &Settings,
) -> Result<Connection, AwsError> {
    Ok(match destination {
        Destination::Firehose { .. } => {
            let sdk = ServiceEndpoint::firehose(settings).sdk_config(base)?;
            let client: Arc<dyn PutClient> = Arc::new(firetail_sink::FirehoseClient::new(
                &aws_sdk_firehose::Client::new(&sdk),
            ));
            Arc::new(move |_| Some(client.clone()))
        }
        Destination::Kinesis { .. } => {
            let sdk = ServiceEndpoint::kinesis(settings).sdk_config(base)?;
            let client: Arc<dyn PutClient> = Arc::new(firetail_sink::KinesisClient::new(
                &aws_sdk_kinesis::Client::new(&sdk),
            ));
            Arc::new(move |_| Some(client.clone()))
        }
        Destination::CloudWatchLogs { .. } => {
            let sdk = ServiceEndpoint::logs(settings).sdk_config(base)?;
            let client = aws_sdk_cloudwatchlogs::Client::new(&sdk);
            Arc::new(move |flow: &Destination| {
                let Destination::CloudWatchLogs {
                    log_group,
                    log_stream,
                    create_missing,
                } = flow
                else {
                    return None;
                };
                let target = firetail_sink::LogsTarget {
                    log_group: log_group.clone(),
                    log_stream: log_stream.clone(),
                    create_missing: *create_missing,
                };
                Some(Arc::new(firetail_sink::LogsClient::new(&client, target)))
            })
        }
    })
}
