//! Reads request frames off a socket, taking memory from the shared
//! [`RequestMemoryPool`] for each frame's bytes as they arrive.
//!
//! A frame is a 4-byte big-endian length and that many bytes. The length is
//! checked against `socket.request.max.bytes` before anything is reserved;
//! the body is then read in steps of at most [`READ_STEP_BYTES`], each step
//! first taking its bytes from the pool. Memory follows what a client has
//! really sent, so a length prefix that lies (announcing 100 MiB and
//! sending ten bytes) holds ten bytes of the pool, not 100 MiB; the idle
//! timer of the connection closes such a stalled frame.
//!
//! [`RequestReader::next_frame`] is cancel safe: the bytes read so far and
//! the memory taken stay in the reader, so the connection can `select!` on
//! it next to its responses and call it again.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};

use crate::limits::{RequestMemory, RequestMemoryPool};

/// The most of a frame's body read (and taken from the pool) in one step.
pub(crate) const READ_STEP_BYTES: usize = 64 * 1024;

/// Bytes read ahead of the frame being parsed, so small pipelined requests
/// cost one `read` between them rather than two each; not taken from the
/// pool (a fixed cost per connection, like the socket's own buffers).
const READ_AHEAD_BYTES: usize = 8 * 1024;

const LENGTH_PREFIX_BYTES: usize = 4;

/// Why no further frame can be read; the connection closes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The length prefix announces more than `socket.request.max.bytes`.
    #[error("frame of {length} bytes exceeds socket.request.max.bytes ({max})")]
    TooLarge {
        /// The announced length.
        length: usize,
        /// `socket.request.max.bytes`.
        max: usize,
    },
    /// The length prefix is negative.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame ({read} of {expected} bytes)")]
    EndOfStreamMidFrame {
        /// Bytes of the frame (prefix included) that arrived.
        read: usize,
        /// Bytes the frame should have had.
        expected: usize,
    },
    /// Reading failed (a reset connection, for instance).
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// Whether this is a peer that went away rather than a peer that sent
    /// something wrong: routine, not worth more than a debug line.
    pub(crate) fn is_disconnect(&self) -> bool {
        match self {
            Self::EndOfStreamMidFrame { .. } => true,
            Self::Io(error) => matches!(
                error.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::TimedOut
            ),
            Self::TooLarge { .. } | Self::NegativeLength(_) => false,
        }
    }
}

/// One request frame and the pool memory its bytes hold until answered.
#[derive(Debug)]
pub(crate) struct RequestFrame {
    /// The frame without its length prefix.
    pub(crate) body: Bytes,
    /// Given back to the pool when dropped.
    pub(crate) memory: RequestMemory,
}

/// The read half of a connection, split into frames.
#[derive(Debug)]
pub(crate) struct RequestReader<R> {
    socket: BufReader<R>,
    max_frame_bytes: usize,
    prefix: [u8; LENGTH_PREFIX_BYTES],
    prefix_read: usize,
    /// The body length once the prefix is complete.
    length: Option<usize>,
    body: BytesMut,
    memory: RequestMemory,
}

impl<R: AsyncRead + Unpin> RequestReader<R> {
    /// Frames of at most `max_frame_bytes` (`socket.request.max.bytes`).
    pub(crate) fn new(socket: R, max_frame_bytes: usize) -> Self {
        Self {
            socket: BufReader::with_capacity(READ_AHEAD_BYTES, socket),
            max_frame_bytes,
            prefix: [0; LENGTH_PREFIX_BYTES],
            prefix_read: 0,
            length: None,
            body: BytesMut::new(),
            memory: RequestMemory::default(),
        }
    }

    /// Whether part of a frame has arrived and the rest has not.
    pub(crate) fn is_mid_frame(&self) -> bool {
        self.prefix_read > 0
    }

    /// Reads the next frame; `Ok(None)` when the peer closed the connection
    /// between frames. Cancel safe (see the module doc).
    ///
    /// # Errors
    /// [`ReadError`] when the stream cannot go on; the connection must close.
    pub(crate) async fn next_frame(
        &mut self,
        pool: &RequestMemoryPool,
    ) -> Result<Option<RequestFrame>, ReadError> {
        let length = match self.length {
            Some(length) => length,
            None => match self.read_length().await? {
                Some(length) => length,
                None => return Ok(None),
            },
        };
        while self.body.len() < length {
            let step = (length - self.body.len()).min(READ_STEP_BYTES);
            // Memory for the step is taken before its bytes are read.
            if self.memory.bytes() < self.body.len() + step {
                let wanted = self.body.len() + step - self.memory.bytes();
                let taken = pool.take(wanted, self.memory.bytes()).await;
                self.memory.merge(taken);
            }
            self.body.reserve(step);
            let read = self
                .socket
                .read_buf(&mut (&mut self.body).limit(step))
                .await?;
            if read == 0 {
                return Err(ReadError::EndOfStreamMidFrame {
                    read: LENGTH_PREFIX_BYTES + self.body.len(),
                    expected: LENGTH_PREFIX_BYTES + length,
                });
            }
        }
        self.prefix_read = 0;
        self.length = None;
        Ok(Some(RequestFrame {
            body: self.body.split().freeze(),
            memory: std::mem::take(&mut self.memory),
        }))
    }

    /// Reads and checks the length prefix; `None` at a clean end of stream.
    async fn read_length(&mut self) -> Result<Option<usize>, ReadError> {
        while self.prefix_read < LENGTH_PREFIX_BYTES {
            let read = self
                .socket
                .read(&mut self.prefix[self.prefix_read..])
                .await?;
            if read == 0 {
                if self.prefix_read == 0 {
                    return Ok(None);
                }
                return Err(ReadError::EndOfStreamMidFrame {
                    read: self.prefix_read,
                    expected: LENGTH_PREFIX_BYTES,
                });
            }
            self.prefix_read += read;
        }
        let announced = (&self.prefix[..]).get_i32();
        let length =
            usize::try_from(announced).map_err(|_| ReadError::NegativeLength(announced))?;
        if length > self.max_frame_bytes {
            return Err(ReadError::TooLarge {
                length,
                max: self.max_frame_bytes,
            });
        }
        self.length = Some(length);
        Ok(Some(length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut bytes = (body.len() as i32).to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    #[tokio::test]
    async fn frames_come_out_whole_and_hold_their_bytes_of_the_pool() {
        let pool = RequestMemoryPool::new(1 << 20);
        let big = vec![7u8; 3 * READ_STEP_BYTES + 5];
        let mut input = framed(b"first");
        input.extend(framed(&big));
        let mut reader = RequestReader::new(&input[..], 1 << 20);
        let first = reader.next_frame(&pool).await.unwrap().unwrap();
        assert_eq!((&first.body[..], first.memory.bytes()), (&b"first"[..], 5));
        let second = reader.next_frame(&pool).await.unwrap().unwrap();
        assert_eq!(second.body, big);
        assert_eq!(pool.available(), (1 << 20) - 5 - big.len());
        drop((first, second));
        assert_eq!(pool.available(), 1 << 20);
        assert!(reader.next_frame(&pool).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_lying_length_prefix_holds_what_arrived_and_one_read_step_not_its_length() {
        let pool = RequestMemoryPool::new(1 << 30);
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut reader = RequestReader::new(server, 1 << 30);
        client
            .write_all(&(100_i32 << 20).to_be_bytes())
            .await
            .unwrap();
        client.write_all(b"ten bytes!").await.unwrap();
        let read = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            reader.next_frame(&pool),
        )
        .await;
        assert!(read.is_err(), "the frame is incomplete");
        assert!(reader.is_mid_frame());
        // What arrived plus the step reserved for the next read.
        assert_eq!((1 << 30) - pool.available(), 10 + READ_STEP_BYTES);
    }

    #[tokio::test]
    async fn oversized_and_negative_prefixes_are_errors() {
        let pool = RequestMemoryPool::new(-1);
        let input = framed(&[0; 11]);
        let mut reader = RequestReader::new(&input[..], 10);
        let error = reader.next_frame(&pool).await.unwrap_err();
        assert!(matches!(
            error,
            ReadError::TooLarge {
                length: 11,
                max: 10
            }
        ));
        assert!(!error.is_disconnect());
        let input = (-1_i32).to_be_bytes();
        let mut reader = RequestReader::new(&input[..], 10);
        let error = reader.next_frame(&pool).await.unwrap_err();
        assert!(matches!(error, ReadError::NegativeLength(-1)));
    }

    #[tokio::test]
    async fn end_of_stream_mid_frame_is_a_disconnect() {
        let pool = RequestMemoryPool::new(-1);
        let input = &framed(b"whole body")[..7];
        let mut reader = RequestReader::new(input, 100);
        let error = reader.next_frame(&pool).await.unwrap_err();
        assert!(error.is_disconnect(), "{error}");
    }
}
