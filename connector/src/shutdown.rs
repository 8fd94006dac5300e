//! When the service stops: a [`Shutdown`] carries two futures, `stop` (start a clean shutdown: close the
//! sources, drain ingestion, close live clients, flush the last tick and save the layers) and `hurry` (cut
//! the waits short: save the layers and return at once, e.g. on a second SIGTERM). Every wait of the
//! shutdown is bounded, so the service ends within seconds whatever its sources do.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How long the shutdown waits for each source's session to close (a silent server never answers).
pub const SOURCE_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the shutdown waits for ingestion to drain what the sources delivered.
pub const INGEST_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the shutdown waits for live clients to get their close frame.
pub const CLIENTS_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The service's stop conditions.
pub struct Shutdown {
    stop: Signal,
    hurry: Signal,
}

impl Shutdown {
    /// Stops when `stop` resolves; never hurries.
    pub fn when(stop: impl Future<Output = ()> + Send + 'static) -> Self {
        Shutdown { stop: Box::pin(stop), hurry: Box::pin(std::future::pending()) }
    }

    /// Stops when this process's standard input closes (at its end of file): how a parent that owns the
    /// pipe — a test, a supervisor — asks for a clean stop without a signal.
    pub fn when_stdin_closes() -> Self {
        Shutdown::when(async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            })
            .await;
        })
    }

    /// Also hurries when `hurry` resolves (only looked at once `stop` has resolved).
    pub fn hurry_when(mut self, hurry: impl Future<Output = ()> + Send + 'static) -> Self {
        self.hurry = Box::pin(hurry);
        self
    }

    /// Watches both futures on a task of the current runtime.
    pub(crate) fn watch(self) -> ShutdownState {
        let (tx, rx) = watch::channel(Phase::Running);
        tokio::spawn(async move {
            self.stop.await;
            tx.send_replace(Phase::Stopping);
            self.hurry.await;
            tx.send_replace(Phase::Hurrying);
        });
        ShutdownState(rx)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Phase {
    Running,
    Stopping,
    Hurrying,
}

/// What the service asks of a [`Shutdown`] while it runs.
#[derive(Clone)]
pub(crate) struct ShutdownState(watch::Receiver<Phase>);

impl ShutdownState {
    /// Resolves once a stop was asked for (at once if it already was).
    pub async fn stopping(&self) {
        self.reached(Phase::Stopping).await
    }

    /// Resolves once the shutdown should hurry.
    pub async fn hurrying(&self) {
        self.reached(Phase::Hurrying).await
    }

    async fn reached(&self, phase: Phase) {
        let mut rx = self.0.clone();
        if rx.wait_for(|p| *p >= phase).await.is_err() {
            // The watcher ended without reaching `phase` (its runtime is going away): never resolves.
            std::future::pending::<()>().await
        }
    }

    /// Runs `work` unless a stop comes first (`None` then).
    pub async fn unless_stopped<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            r = work => Some(r),
            _ = self.stopping() => None,
        }
    }

    /// Runs `work` unless the shutdown hurries first (`None` then).
    pub async fn unless_hurried<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            r = work => Some(r),
            _ = self.hurrying() => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_then_hurry_in_order() {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (hurry_tx, hurry_rx) = tokio::sync::oneshot::channel::<()>();
        let s = Shutdown::when(async {
            let _ = stop_rx.await;
        })
        .hurry_when(async {
            let _ = hurry_rx.await;
        })
        .watch();
        // A hurry before the stop is only acted on after it.
        hurry_tx.send(()).unwrap();
        assert!(s.unless_hurried(tokio::time::sleep(Duration::from_millis(50))).await.is_some());
        stop_tx.send(()).unwrap();
        s.stopping().await;
        s.hurrying().await;
        assert!(s.unless_stopped(std::future::pending::<()>()).await.is_none());
    }

    #[tokio::test]
    async fn a_shutdown_that_never_stops_runs_the_work() {
        let s = Shutdown::when(std::future::pending()).watch();
        assert_eq!(s.unless_stopped(async { 7 }).await, Some(7));
    }
}
