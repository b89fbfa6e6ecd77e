//! The records of one decision, applied as they are made.
//!
//! A decision may change the same partition twice (fence two brokers in one
//! tick) or create a topic and then its partitions; each step must see the
//! image as the earlier steps left it. [`Pending`] keeps a private copy of the
//! image, made on the first record only, so decisions that change nothing
//! (most heartbeats) copy nothing.

use std::borrow::Cow;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// The image as a decision has changed it so far, and the records to commit.
#[derive(Debug)]
pub(crate) struct Pending<'a> {
    image: Cow<'a, MetadataImage>,
    records: Vec<MetadataRecord>,
}

impl<'a> Pending<'a> {
    /// Starts a decision on the current image.
    pub(crate) fn new(image: &'a MetadataImage) -> Self {
        Self {
            image: Cow::Borrowed(image),
            records: Vec::new(),
        }
    }

    /// The image with this decision's records applied.
    pub(crate) fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Adds a record and applies it to the decision's image.
    ///
    /// # Panics
    ///
    /// In debug builds, when the record does not fit: decisions only make
    /// records that fit, so that is a bug. Release builds log it and drop the
    /// record, so the metadata log never holds a record replay would refuse.
    pub(crate) fn push(&mut self, record: MetadataRecord) {
        match self.image.to_mut().apply(&record) {
            Ok(()) => self.records.push(record),
            Err(error) => {
                debug_assert!(false, "decision made a record that does not fit: {error}");
                tracing::error!(%error, ?record, "controller bug: dropped a record that does not fit the image");
            }
        }
    }

    /// The records to commit, in order.
    pub(crate) fn into_records(self) -> Vec<MetadataRecord> {
        self.records
    }
}
