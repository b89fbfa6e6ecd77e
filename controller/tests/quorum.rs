//! Three controllers on loopback, in one process: they elect an active
//! controller, commit metadata records on every node, and when the leader
//! is stopped the other two elect a new one that keeps every committed
//! record and commits more; the stopped node, restarted from its files,
//! catches up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sluice_controller::{
    BrokerEpochRef, MetadataQuorum, MetadataRecord, QuorumConfig, QuorumError, RaftQuorum,
    RegisterBrokerRecord,
};
use tokio::net::TcpListener;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Bounds every wait in this test.
const WAIT: Duration = Duration::from_secs(20);

fn registration(broker_epoch: i64) -> MetadataRecord {
    MetadataRecord::RegisterBroker(RegisterBrokerRecord {
        broker_id: broker_epoch as i32,
        incarnation_id: uuid::Uuid::from_u128(broker_epoch as u128),
        broker_epoch,
        endpoints: Vec::new(),
        rack: None,
    })
}

async fn start(
    id: u64,
    voters: &BTreeMap<u64, String>,
    dir: &Path,
    listener: TcpListener,
) -> Result<RaftQuorum, QuorumError> {
    RaftQuorum::start(
        QuorumConfig::new(id, voters.clone(), dir.join(format!("node{id}"))),
        listener,
    )
    .await
}

/// Waits until every node agrees on one leader among them.
async fn agreed_leader(
    nodes: &BTreeMap<u64, RaftQuorum>,
) -> Result<u64, Box<dyn std::error::Error>> {
    let wait = async {
        loop {
            let leaders: Vec<_> = nodes.values().map(|n| n.status().leader).collect();
            if let Some(Some(leader)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*leader))
                && nodes.contains_key(leader)
            {
                return *leader;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    Ok(tokio::time::timeout(WAIT, wait).await?)
}

/// Waits until `node` has applied `offset`.
async fn applied(node: &RaftQuorum, offset: u64) -> TestResult {
    let wait = async {
        while node.status().applied_offset < Some(offset) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    Ok(tokio::time::timeout(WAIT, wait).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_controllers_elect_commit_and_survive_losing_the_leader() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut listeners = BTreeMap::new();
    let mut voters = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        voters.insert(id, listener.local_addr()?.to_string());
        listeners.insert(id, listener);
    }
    let mut nodes = BTreeMap::new();
    for (id, listener) in listeners {
        nodes.insert(id, start(id, &voters, dir.path(), listener).await?);
    }

    let leader = agreed_leader(&nodes).await?;
    let follower = *nodes
        .keys()
        .find(|id| **id != leader)
        .ok_or("no follower")?;
    assert!(matches!(
        nodes[&follower].propose(vec![registration(1)]).await,
        Err(QuorumError::NotLeader { leader: Some(l) }) if l == leader
    ));
    let mut subscription = nodes[&follower].subscribe();
    let mut last = 0;
    for epoch in 1..=5 {
        last = nodes[&leader].propose(vec![registration(epoch)]).await?;
    }
    for node in nodes.values() {
        applied(node, last).await?;
        assert_eq!(node.image().brokers().count(), 5);
        assert_eq!(node.status().voters, vec![1, 2, 3]);
    }
    let first = tokio::time::timeout(WAIT, subscription.recv()).await??;
    assert_eq!(first.records, vec![registration(1)]);

    // Stop the active controller; the other two elect a new one.
    let stopped = nodes.remove(&leader).ok_or("leader vanished")?;
    stopped.shutdown().await;
    let new_leader = agreed_leader(&nodes).await?;
    assert_ne!(new_leader, leader);
    let image_before = nodes[&new_leader].image();
    assert_eq!(
        image_before.brokers().count(),
        5,
        "committed records survive"
    );
    let fence = MetadataRecord::FenceBroker(BrokerEpochRef {
        broker_id: 3,
        broker_epoch: 3,
    });
    let mut last = nodes[&new_leader]
        .propose(vec![registration(6), fence])
        .await?;
    assert!(last > 5);
    for node in nodes.values() {
        applied(node, last).await?;
        assert_eq!(node.image().brokers().count(), 6);
        assert!(node.image().broker(3).ok_or("broker 3")?.fenced);
    }

    // The stopped node restarts from its files on its old port and catches up.
    let listener = TcpListener::bind(&voters[&leader]).await?;
    let restarted = start(leader, &voters, dir.path(), listener).await?;
    nodes.insert(leader, restarted);
    last = nodes[&new_leader].propose(vec![registration(7)]).await?;
    applied(&nodes[&leader], last).await?;
    let images: Vec<_> = nodes.values().map(|n| n.image()).collect();
    assert!(
        images.iter().all(|i| *i == images[0]),
        "every node has the same image"
    );
    assert_eq!(images[0].brokers().count(), 7);

    for (_, node) in nodes {
        node.shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_voter_quorum_leads_alone_and_reopens_with_its_records() -> TestResult {
    let dir = tempfile::tempdir()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let voters = BTreeMap::from([(1, listener.local_addr()?.to_string())]);
    let started = std::time::Instant::now();
    let node = start(1, &voters, dir.path(), listener).await?;
    let nodes = BTreeMap::from([(1, node)]);
    assert_eq!(agreed_leader(&nodes).await?, 1);
    let offset = nodes[&1].propose(vec![registration(1)]).await?;
    // A figure, not an assertion: how long a one-node quorum takes to commit.
    std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "single voter: first record committed {:?} after start\n",
            started.elapsed()
        )
        .as_bytes(),
    )?;
    for (_, node) in nodes {
        node.shutdown().await;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let voters = BTreeMap::from([(1, listener.local_addr()?.to_string())]);
    let node = start(1, &voters, dir.path(), listener).await?;
    applied(&node, offset).await?;
    assert_eq!(node.image().brokers().count(), 1);
    node.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn node_outside_the_voters_does_not_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let voters = BTreeMap::from([(2, listener.local_addr()?.to_string())]);
    let result = start(1, &voters, dir.path(), listener).await;
    assert!(matches!(result, Err(QuorumError::Unavailable(_))));
    Ok(())
}
