//! Supervision of a flow's stage tasks (tail, process, sink).
//!
//! A stage may only end once its flow is being stopped (shutdown, reload). One that ends
//! earlier, whether it returned, failed, panicked or was aborted, leaves the flow
//! delivering nothing while the daemon looks healthy; so the moment it happens the flow
//! is marked down in its counters (which `/health/ready`, `firetail status`, the
//! `firetail_flow_up` gauge and systemd's status line read) and an ERROR names the flow,
//! the stage and why. Nothing is acknowledged for the records the stage held: they are
//! read again at the next start, from the checkpoint.

use std::sync::Arc;

use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::daemon::counters::FlowCounters;

/// The stages of a flow that run as tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Tail,
    Process,
    Sink,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Tail => "tail",
            Stage::Process => "process",
            Stage::Sink => "sink",
        }
    }
}

/// How a stage's task ended, as far as the supervisor can tell.
pub type StageEnd<T> = Result<T, JoinError>;

/// Spawns `task` as `stage` of the flow `counters` describes. The returned handle
/// yields the task's own output (or how it failed) once it ended; if it ends before
/// `stopping` is cancelled, the flow is reported down at that moment. `failure` turns a
/// normal output into an error message when the output itself is a failure (a stage
/// returning `Err`).
pub fn spawn_stage<T, F>(
    stage: Stage,
    counters: Arc<FlowCounters>,
    stopping: CancellationToken,
    task: F,
    failure: fn(&T) -> Option<String>,
) -> JoinHandle<StageEnd<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let inner = tokio::spawn(task);
    #[cfg(debug_assertions)]
    crate::fault::register_stage(stage.name(), inner.abort_handle());
    supervise(stage, counters, stopping, inner, failure)
}

/// Watches an already spawned stage task (see [`spawn_stage`]).
fn supervise<T: Send + 'static>(
    stage: Stage,
    counters: Arc<FlowCounters>,
    stopping: CancellationToken,
    inner: JoinHandle<T>,
    failure: fn(&T) -> Option<String>,
) -> JoinHandle<StageEnd<T>> {
    tokio::spawn(async move {
        let end = inner.await;
        if !stopping.is_cancelled() {
            let why = match &end {
                Ok(output) => failure(output).unwrap_or_else(|| "returned".to_owned()),
                // A panic's Display carries its message.
                Err(e) if e.is_panic() => format!("panicked: {e}"),
                Err(_) => "was aborted".to_owned(),
            };
            report_down(&counters, stage, &why);
        }
        end
    })
}

/// Marks the flow down and says so at ERROR, once per stage.
fn report_down(counters: &FlowCounters, stage: Stage, why: &str) {
    let reason = format!("{} stage ended while the daemon runs: {why}", stage.name());
    tracing::error!(
        flow = %counters.flow_id,
        "flow {} stopped delivering: {reason}; its records are read again from the checkpoint at the next start",
        counters.flow_id
    );
    counters.mark_down(reason);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn counters() -> Arc<FlowCounters> {
        Arc::new(FlowCounters::new("fh:s:/x", "DeliveryStream:s"))
    }

    #[tokio::test]
    async fn a_stage_ending_early_marks_the_flow_down_with_the_reason() {
        for (stage, outcome) in [
            (Stage::Sink, Err("bad config".to_owned())),
            (Stage::Process, Ok(())),
        ] {
            let c = counters();
            let h = spawn_stage(
                stage,
                c.clone(),
                CancellationToken::new(),
                async move { outcome },
                |r: &Result<(), String>| r.as_ref().err().cloned(),
            );
            h.await.unwrap().unwrap().ok();
            let down = c.down().unwrap();
            assert!(down.starts_with(stage.name()), "{down}");
        }
    }

    #[tokio::test]
    async fn panics_and_aborts_are_reported_too() {
        let c = counters();
        let h = spawn_stage(
            Stage::Tail,
            c.clone(),
            CancellationToken::new(),
            async { panic!("boom") },
            |_: &()| None,
        );
        assert!(h.await.unwrap().unwrap_err().is_panic());
        assert!(c.down().unwrap().contains("panicked"), "{:?}", c.down());

        let c = counters();
        let inner = tokio::spawn(async { tokio::time::sleep(Duration::from_secs(3600)).await });
        let abort = inner.abort_handle();
        let h = supervise(
            Stage::Sink,
            c.clone(),
            CancellationToken::new(),
            inner,
            |_: &()| None,
        );
        abort.abort();
        assert!(h.await.unwrap().unwrap_err().is_cancelled());
        assert!(c.down().unwrap().contains("aborted"), "{:?}", c.down());
    }

    #[tokio::test]
    async fn an_end_during_a_stop_is_not_a_failure() {
        let c = counters();
        let stopping = CancellationToken::new();
        stopping.cancel();
        let h = spawn_stage(Stage::Sink, c.clone(), stopping, async {}, |_: &()| None);
        h.await.unwrap().unwrap();
        assert_eq!(c.down(), None);
    }
}
