//! The workload (the async shell): creates the topic, runs idempotent
//! producers and a consumer group whose members leave and rejoin on a
//! schedule, drains, reads every partition once more without a group, and
//! returns the checker's verdict. Every event goes to the history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_client::{Admin, ClientConfig, NewTopic};
use sluice_consumer::{Consumer, ConsumerConfig, TopicPartition};
use sluice_producer::Acks;
use sluice_protocol::ErrorCode;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::actors::{self, Actor};
use crate::checker::Verdict;
use crate::error::VerifyError;
use crate::event::Event;
use crate::history::HistoryWriter;
use crate::recorder::{Progress, Recorder, now_ms};

/// How often the drain looks at what is still unread.
const DRAIN_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// What to run, and against which cluster.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Comma-separated `host:port` list of the cluster.
    pub bootstrap_servers: String,
    /// The topic, created when missing (an existing one must have `partitions`).
    pub topic: String,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Replicas of each partition.
    pub replication_factor: i16,
    /// How many producers write at once.
    pub producers: u32,
    /// How many consumers the group has at once.
    pub consumers: u32,
    /// The producers' `acks` (idempotence is on with `acks=all`).
    pub acks: Acks,
    /// How long the producers write.
    pub duration: Duration,
    /// Records per second each producer sends.
    pub records_per_second: u32,
    /// How often one consumer leaves the group and a new one joins.
    pub rebalance_interval: Duration,
    /// How long the end of the run may wait for the group to read every
    /// acknowledged record, and again for the final read.
    pub drain_timeout: Duration,
    /// The group; a fresh name per run unless set.
    pub group_id: String,
    /// Upper bound of one request, retries included (`default.api.timeout.ms`).
    pub default_api_timeout_ms: u64,
}

impl WorkloadConfig {
    /// The defaults: topic `sluice-verify`, 3 partitions, RF 1, 2 producers
    /// at 200 records/s, 2 consumers, acks=all, 30 s, a rebalance every
    /// quarter of the run, 30 s to drain.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        WorkloadConfig {
            bootstrap_servers: bootstrap_servers.into(),
            topic: "sluice-verify".to_owned(),
            partitions: 3,
            replication_factor: 1,
            producers: 2,
            consumers: 2,
            acks: Acks::All,
            duration: Duration::from_secs(30),
            records_per_second: 200,
            rebalance_interval: Duration::from_millis(7_500),
            drain_timeout: Duration::from_secs(30),
            group_id: format!("sluice-verify-{}", now_ms()),
            default_api_timeout_ms: 30_000,
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`VerifyError::Config`] naming the first bad one.
    pub fn validate(&self) -> Result<(), VerifyError> {
        let problem = if self.partitions < 1 {
            "partitions must be at least 1"
        } else if self.replication_factor < 1 {
            "replication factor must be at least 1"
        } else if self.producers < 1 {
            "producers must be at least 1"
        } else if self.consumers < 1 {
            "consumers must be at least 1"
        } else if self.records_per_second < 1 {
            "rate must be at least 1 record per second"
        } else if self.rebalance_interval.is_zero() {
            "rebalance interval must be above zero"
        } else {
            return Ok(());
        };
        Err(VerifyError::Config(problem.to_owned()))
    }

    pub(crate) fn client_config(&self, role: &str) -> ClientConfig {
        let mut config = ClientConfig::new(self.bootstrap_servers.clone());
        config.client_id = format!("sluice-verify-{role}");
        config.default_api_timeout_ms = self.default_api_timeout_ms;
        config
    }

    pub(crate) fn topic_partitions(&self) -> Vec<TopicPartition> {
        (0..self.partitions)
            .map(|partition| TopicPartition::new(self.topic.as_str(), partition))
            .collect()
    }
}

/// Runs the workload, writing every event to `history`, and judges it.
///
/// # Errors
/// Bad settings, a topic that cannot be created, a cluster that cannot be
/// reached, a consumer that fails, a final read that cannot finish, or a
/// history that cannot be written. Violations are not errors: they are in
/// the [`Verdict`].
pub async fn run(
    config: &WorkloadConfig,
    history: HistoryWriter,
    progress: Arc<Progress>,
) -> Result<Verdict, VerifyError> {
    let (_never, not_stopped) = watch::channel(false);
    run_until(config, history, progress, not_stopped).await
}

/// As [`run`], but the producers stop early when `stop` turns true (a
/// Ctrl-C): the drain, the final read and the check still happen.
///
/// # Errors
/// As [`run`].
pub async fn run_until(
    config: &WorkloadConfig,
    history: HistoryWriter,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
) -> Result<Verdict, VerifyError> {
    config.validate()?;
    let config = Arc::new(config.clone());
    create_topic(&config).await?;
    let start_offsets = start_group_at_log_end(&config).await?;
    let (recorder, history_thread) = Recorder::start(history, progress.clone());
    recorder.record(Event::Begin {
        ts_ms: now_ms(),
        topic: config.topic.clone(),
        start_offsets: start_offsets.clone(),
    });
    let outcome = run_actors(&config, &recorder, &progress, &start_offsets, stop).await;
    drop(recorder);
    let verdict = history_thread
        .join()
        .map_err(|_| VerifyError::Task("the history thread panicked".to_owned()))??;
    outcome.map(|()| verdict)
}

async fn run_actors(
    config: &Arc<WorkloadConfig>,
    recorder: &Recorder,
    progress: &Progress,
    start_offsets: &[i64],
    mut stop: watch::Receiver<bool>,
) -> Result<(), VerifyError> {
    let (stop_producers, producers_stopped) = watch::channel(false);
    let producers: Vec<_> = (0..config.producers)
        .map(|id| {
            let actor = Actor::new(
                id,
                config.clone(),
                recorder.clone(),
                producers_stopped.clone(),
            );
            tokio::spawn(actors::produce(actor))
        })
        .collect();
    let mut group = Group::new(config.clone(), recorder.clone());
    group
        .run_schedule(Instant::now() + config.duration, &mut stop)
        .await?;
    let _ = stop_producers.send(true);
    for producer in producers {
        join(producer).await?;
    }
    drain(config, progress).await;
    group.stop_all().await?;
    actors::final_read(config, recorder, start_offsets).await
}

/// Waits until every acknowledged record was read, or the drain timeout.
async fn drain(config: &WorkloadConfig, progress: &Progress) {
    let deadline = Instant::now() + config.drain_timeout;
    while (!progress.caught_up() || progress.snapshot().unread_acknowledged > 0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(DRAIN_CHECK_INTERVAL).await;
    }
    tracing::debug!(caught_up = progress.caught_up(), snapshot = ?progress.snapshot(), "drain ended");
    let unread = progress.snapshot().unread_acknowledged;
    if unread > 0 {
        tracing::warn!(
            unread,
            "the group did not read every acknowledged record before the drain timeout"
        );
    }
}

/// Resolves when `stop` turns true; never when its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn join(task: JoinHandle<Result<(), VerifyError>>) -> Result<(), VerifyError> {
    task.await
        .map_err(|error| VerifyError::Task(error.to_string()))?
}

/// A running group member: its stop signal and its task.
type Member = (watch::Sender<bool>, JoinHandle<Result<(), VerifyError>>);

/// The consumer group: one slot per consumer, each running a member that
/// the schedule replaces (leave, then a new member joins).
struct Group {
    config: Arc<WorkloadConfig>,
    recorder: Recorder,
    members: Vec<Member>,
    next_id: u32,
}

impl Group {
    fn new(config: Arc<WorkloadConfig>, recorder: Recorder) -> Self {
        let mut group = Group {
            config,
            recorder,
            members: Vec::new(),
            next_id: 0,
        };
        for _ in 0..group.config.consumers {
            let member = group.spawn_member();
            group.members.push(member);
        }
        group
    }

    fn spawn_member(&mut self) -> Member {
        let (stop, stopped) = watch::channel(false);
        let actor = Actor::new(
            self.next_id,
            self.config.clone(),
            self.recorder.clone(),
            stopped,
        );
        self.next_id += 1;
        (stop, tokio::spawn(actors::consume(actor)))
    }

    /// Until `deadline`, replaces one member every rebalance interval.
    /// Ends early when `stop` turns true.
    async fn run_schedule(
        &mut self,
        deadline: Instant,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), VerifyError> {
        let mut slot = 0;
        loop {
            let next = (Instant::now() + self.config.rebalance_interval).min(deadline);
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = stopped(stop) => return Ok(()),
            }
            if next >= deadline {
                return Ok(());
            }
            let replacement = self.spawn_member();
            let (stop, member) = std::mem::replace(&mut self.members[slot], replacement);
            let _ = stop.send(true);
            join(member).await?;
            slot = (slot + 1) % self.members.len();
        }
    }

    async fn stop_all(&mut self) -> Result<(), VerifyError> {
        for (stop, _) in &self.members {
            let _ = stop.send(true);
        }
        for (_, member) in self.members.drain(..) {
            join(member).await?;
        }
        Ok(())
    }
}

/// Creates the topic, or accepts an existing one with the asked partitions.
async fn create_topic(config: &WorkloadConfig) -> Result<(), VerifyError> {
    let admin = Admin::connect(config.client_config("admin")).await?;
    let topic = NewTopic::new(&config.topic, config.partitions, config.replication_factor);
    let created = admin.create_topics(&[topic], false).await;
    let failure = |reason: String| VerifyError::CreateTopic {
        topic: config.topic.clone(),
        reason,
    };
    match created.map(|topics| topics.into_iter().find_map(|t| t.error)) {
        Ok(None) => Ok(()),
        Ok(Some(error)) if error.code == ErrorCode::TopicAlreadyExists => {
            existing_topic_fits(&admin, config).await
        }
        Ok(Some(error)) => Err(failure(match error.message {
            Some(message) => format!("{}: {message}", error.code),
            None => error.code.to_string(),
        })),
        Err(error) => Err(failure(error.to_string())),
    }
}

async fn existing_topic_fits(admin: &Admin, config: &WorkloadConfig) -> Result<(), VerifyError> {
    let topics = admin
        .describe_topics(std::slice::from_ref(&config.topic))
        .await?;
    let partitions = topics
        .iter()
        .find(|topic| topic.name == config.topic)
        .map_or(0, |topic| topic.partitions.len());
    if usize::try_from(config.partitions).is_ok_and(|wanted| wanted == partitions) {
        return Ok(());
    }
    Err(VerifyError::Config(format!(
        "topic {} already exists with {partitions} partitions, not {}: \
         pass --partitions {partitions} or another --topic",
        config.topic, config.partitions
    )))
}

/// Commits each partition's log end offset for the run's group, so its
/// members read only what this run writes (a reused topic keeps earlier
/// runs' records), and returns those offsets by partition index.
async fn start_group_at_log_end(config: &WorkloadConfig) -> Result<Vec<i64>, VerifyError> {
    let mut consumer_config = ConsumerConfig::new(
        config.bootstrap_servers.clone(),
        Some(config.group_id.as_str()),
    );
    consumer_config.client = config.client_config("setup");
    let mut consumer = Consumer::connect(consumer_config).await?;
    let partitions = config.topic_partitions();
    let outcome = async {
        let ends = consumer.end_offsets(&partitions).await?;
        let offsets: Vec<(TopicPartition, i64)> = partitions
            .iter()
            .map(|partition| (partition.clone(), ends.get(partition).copied().unwrap_or(0)))
            .collect();
        consumer.commit_offsets_sync(&offsets).await?;
        Ok(offsets.into_iter().map(|(_, offset)| offset).collect())
    }
    .await;
    consumer.close().await;
    outcome
}
