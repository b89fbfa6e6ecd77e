//! `frame`: a byte stream as a connection reads it: the size-prefixed frame
//! codec (with the broker's default `socket.request.max.bytes`) splits it,
//! and every frame goes through the request header decoder and on to the
//! body decoders, as the connection task and dispatch do.

use bytes::BytesMut;
use rand::Rng;
use rand::rngs::StdRng;
use sluice_protocol::{DEFAULT_MAX_FRAME_BYTES, FrameCodec, frame_length_prefix};
use tokio_util::codec::Decoder;

use super::request::{api_label, run_request};
use super::{Target, outcome, request_seeds};

/// See the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct FrameTarget;

impl Target for FrameTarget {
    fn seeds(&self) -> Vec<Vec<u8>> {
        let frames = request_seeds::all_requests();
        let mut seeds: Vec<Vec<u8>> = frames.iter().map(|f| prefixed(f)).collect();
        // A few streams of several pipelined requests.
        for window in frames.chunks(3).step_by(7) {
            seeds.push(window.iter().flat_map(|f| prefixed(f)).collect());
        }
        seeds
    }

    fn fix_up(&self, rng: &mut StdRng, input: &mut Vec<u8>) {
        // Half the time, make the first prefix announce the rest exactly.
        if input.len() >= 4 && rng.random_bool(0.5) {
            let length = i32::try_from(input.len() - 4).unwrap_or(i32::MAX);
            input[..4].copy_from_slice(&length.to_be_bytes());
        }
    }

    fn run(&mut self, input: &[u8]) -> String {
        // The stream arrives in two reads, split a third of the way in, so
        // both the "need more bytes" path and the whole-frame path run.
        let split = input.len() / 3;
        let mut codec = FrameCodec::new(DEFAULT_MAX_FRAME_BYTES);
        let mut buffer = BytesMut::new();
        let mut outcomes = Vec::new();
        for chunk in [&input[..split], &input[split..]] {
            buffer.extend_from_slice(chunk);
            loop {
                match codec.decode(&mut buffer) {
                    Ok(Some(frame)) => outcomes.push(run_request(&frame)),
                    Ok(None) => break,
                    Err(error) => {
                        outcomes.push(outcome(&Err::<(), _>(error)));
                        return summary(outcomes);
                    }
                }
            }
        }
        summary(outcomes)
    }

    fn label(&self, input: &[u8]) -> String {
        input.get(4..).map_or_else(|| "short".to_owned(), api_label)
    }
}

/// The distinct outcomes of a stream's frames, in a stable order.
fn summary(mut outcomes: Vec<String>) -> String {
    outcomes.sort();
    outcomes.dedup();
    outcomes.join(";")
}

fn prefixed(frame: &[u8]) -> Vec<u8> {
    let mut out = frame_length_prefix(frame.len())
        .map(|p| p.to_vec())
        .unwrap_or_default();
    out.extend_from_slice(frame);
    out
}
