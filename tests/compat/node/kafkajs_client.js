// Scenarios run with kafkajs (Node's most used Kafka client) against the broker
// under test; test_kafkajs.py starts one per test and checks the JSON it prints.
//
//   node kafkajs_client.js BOOTSTRAP SCENARIO TOPIC [GROUP]
//
// Exits 0 after printing one JSON object; a failure is thrown (exit 1, stack on stderr).
'use strict';

const { Kafka, CompressionTypes, ConfigResourceTypes, logLevel } = require('kafkajs');

const [bootstrap, scenario, topic, group] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: 'sluice-compat',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  retry: { retries: 5 },
});

async function topicConfigs(admin) {
  const described = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
    includeSynonyms: false,
  });
  const entries = {};
  for (const entry of described.resources[0].configEntries) {
    entries[entry.configName] = { value: entry.configValue, isDefault: entry.isDefault };
  }
  return entries;
}

// The legacy AlterConfigs (kafkajs has no incremental variant): each call's
// entries replace the topic's whole set of overrides.
async function alterConfigs() {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const alter = (entries) =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: entries }],
      });
    // Kafka applies a change through its metadata log, so a describe right
    // after it may not show it yet: wait (up to 15 s) for the change itself.
    const settled = async (name, value) => {
      const deadline = Date.now() + 15000;
      for (;;) {
        const configs = await topicConfigs(admin);
        if (configs[name].value === value || Date.now() > deadline) return configs;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    await alter([{ name: 'retention.ms', value: '123456789' }]);
    const first = await settled('retention.ms', '123456789');
    await alter([{ name: 'segment.bytes', value: '2097152' }]);
    const second = await settled('segment.bytes', '2097152');
    let invalid = null;
    try {
      await alter([{ name: 'retention.ms', value: 'not-a-number' }]);
    } catch (error) {
      invalid = error.type || error.name;
    }
    return {
      first: { retention: first['retention.ms'], segment: first['segment.bytes'] },
      second: { retention: second['retention.ms'], segment: second['segment.bytes'] },
      invalid,
    };
  } finally {
    await admin.disconnect();
  }
}

// Produce keyed records with headers (none and gzip, kafkajs' built-in
// codecs), read them back in a consumer group, commit, and read the group's
// offsets with the admin API.
async function groupRoundTrip() {
  const count = 200;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    for (const [name, compression] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP]]) {
      const messages = [];
      for (let i = 0; i < count / 2; i++) {
        messages.push({ key: `${name}-k${i % 10}`, value: `${name}-v${i}`, headers: { index: `${i}` } });
      }
      await producer.send({ topic, compression, acks: -1, messages });
    }
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} records`)), 60000);
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            seen.push({
              partition,
              offset: Number(message.offset),
              key: message.key.toString(),
              value: message.value.toString(),
              index: message.headers.index.toString(),
            });
            if (seen.length === count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    // kafkajs commits what eachMessage resolved when the consumer stops.
    await consumer.disconnect();
    const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const ends = await admin.fetchTopicOffsets(topic);
    return {
      seen,
      committed: Object.fromEntries(committed[0].partitions.map((p) => [p.partition, Number(p.offset)])),
      ends: Object.fromEntries(ends.map((p) => [p.partition, Number(p.high)])),
    };
  } finally {
    await admin.disconnect();
  }
}

const scenarios = { 'alter-configs': alterConfigs, 'group-round-trip': groupRoundTrip };

scenarios[scenario]()
  .then((result) => {
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(0);
  })
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
