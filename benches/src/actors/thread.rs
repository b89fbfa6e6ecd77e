//! Each actor on its own OS thread with a single-threaded runtime.
//!
//! A producer's own tasks (its sender, its connections) are spawned where it
//! connects, so on the actor's runtime they share one thread: handing a
//! batch to the sender or a response back is a queue push, not a wake-up of
//! another worker thread. On a shared multi-threaded runtime those wake-ups
//! (a futex and two context switches each) cost more CPU than the records.
//!
//! An actor runs in two phases so that every actor is connected before the
//! clock starts: [`spawn`] connects (and reports when it has), and
//! [`Starting::start`] hands it what it needs to run.

use std::future::Future;

use tokio::sync::oneshot;

use crate::error::{BenchError, Result};

/// An actor that is connecting, or connected and waiting to start.
pub(crate) struct Starting<G, T> {
    name: String,
    connected: oneshot::Receiver<Result<()>>,
    go: oneshot::Sender<G>,
    done: oneshot::Receiver<Result<T>>,
}

/// A started actor.
pub(crate) struct Running<T> {
    name: String,
    done: oneshot::Receiver<Result<T>>,
}

/// Starts thread `name`: it builds a current-thread runtime, awaits
/// `connect()`, reports the outcome to [`Starting::connected`], and once
/// started with `go` returns `run(client, go)`. Dropping the [`Starting`]
/// before starting it ends the thread and drops the client.
///
/// # Errors
/// [`BenchError::ActorThread`] when the thread cannot be created.
pub(crate) fn spawn<C, G, T, Connect, ConnectFut, Run, RunFut>(
    name: String,
    connect: Connect,
    run: Run,
) -> Result<Starting<G, T>>
where
    G: Send + 'static,
    T: Send + 'static,
    Connect: FnOnce() -> ConnectFut + Send + 'static,
    ConnectFut: Future<Output = Result<C>>,
    Run: FnOnce(C, G) -> RunFut + Send + 'static,
    RunFut: Future<Output = Result<T>>,
{
    let (connected_tx, connected) = oneshot::channel();
    let (go, go_rx) = oneshot::channel::<G>();
    let (done_tx, done) = oneshot::channel();
    let thread_name = name.clone();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(source) => {
                    let _ = connected_tx.send(Err(BenchError::ActorThread {
                        name: thread_name,
                        source,
                    }));
                    return;
                }
            };
            runtime.block_on(async move {
                let client = match connect().await {
                    Ok(client) => client,
                    Err(error) => {
                        let _ = connected_tx.send(Err(error));
                        return;
                    }
                };
                if connected_tx.send(Ok(())).is_err() {
                    return;
                }
                // The run was abandoned before it started: just hang up.
                let Ok(go) = go_rx.await else {
                    return;
                };
                let _ = done_tx.send(run(client, go).await);
            });
        })
        .map_err(|source| BenchError::ActorThread {
            name: name.clone(),
            source,
        })?;
    Ok(Starting {
        name,
        connected,
        go,
        done,
    })
}

impl<G, T> Starting<G, T> {
    /// Waits until the actor has connected.
    ///
    /// # Errors
    /// Why it could not connect, or [`BenchError::ActorEnded`] when its
    /// thread died.
    pub(crate) async fn connected(&mut self) -> Result<()> {
        match (&mut self.connected).await {
            Ok(outcome) => outcome,
            Err(_) => Err(BenchError::ActorEnded(self.name.clone())),
        }
    }

    /// Lets the connected actor run with `go`.
    pub(crate) fn start(self, go: G) -> Running<T> {
        // A send fails only when the thread already ended; `join` says so.
        let _ = self.go.send(go);
        Running {
            name: self.name,
            done: self.done,
        }
    }
}

impl<T> Running<T> {
    /// Waits for the actor's outcome.
    ///
    /// # Errors
    /// The actor's own error, or [`BenchError::ActorEnded`] when its thread
    /// died without one (a panic).
    pub(crate) async fn join(self) -> Result<T> {
        match self.done.await {
            Ok(outcome) => outcome,
            Err(_) => Err(BenchError::ActorEnded(self.name)),
        }
    }
}

/// Waits until every actor of `actors` has connected.
///
/// # Errors
/// The first actor's failure to connect.
pub(crate) async fn all_connected<G, T>(actors: &mut [Starting<G, T>]) -> Result<()> {
    for actor in actors {
        actor.connected().await?;
    }
    Ok(())
}

/// Every actor's outcome, in order.
///
/// # Errors
/// The first actor error met.
pub(crate) async fn join_all<T>(actors: Vec<Running<T>>) -> Result<Vec<T>> {
    let mut outputs = Vec::with_capacity(actors.len());
    for actor in actors {
        outputs.push(actor.join().await?);
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_actor_runs_only_after_start_and_returns_its_outcome() -> Result<()> {
        let (ran_tx, mut ran) = oneshot::channel::<()>();
        let mut actor = spawn(
            "test-actor".to_owned(),
            || async { Ok(40u32) },
            move |client, go: u32| async move {
                let _ = ran_tx.send(());
                Ok(client + go)
            },
        )?;
        actor.connected().await?;
        assert!(
            ran.try_recv().is_err(),
            "the actor ran before it was started"
        );
        assert_eq!(actor.start(2).join().await?, 42);
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_connect_is_reported_and_the_actor_never_runs() -> Result<()> {
        let mut actor = spawn(
            "test-actor".to_owned(),
            || async { Err::<u32, _>(BenchError::Settings("no broker".to_owned())) },
            |client, (): ()| async move { Ok(client) },
        )?;
        match actor.connected().await {
            Err(BenchError::Settings(reason)) => assert_eq!(reason, "no broker"),
            other => panic!("expected the connect error, got {other:?}"),
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_panicking_actor_is_an_error_not_a_hang() -> Result<()> {
        let mut actor = spawn(
            "test-actor".to_owned(),
            || async { Ok(()) },
            |(), (): ()| async move {
                panic!("actor bug");
                #[allow(unreachable_code)]
                Ok(())
            },
        )?;
        actor.connected().await?;
        match actor.start(()).join().await {
            Err(BenchError::ActorEnded(name)) => assert_eq!(name, "test-actor"),
            other => panic!("expected ActorEnded, got {other:?}"),
        }
        Ok(())
    }
}
