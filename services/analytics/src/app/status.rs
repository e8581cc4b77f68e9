//! GetProjectionStatus: how far each stream has been applied, from our tables and JetStream.

use super::Analytics;
use crate::convert::timestamp;
use crate::store;
use flywheel_proto::flywheel::analytics::v1 as pb;
use flywheel_runtime::Result;

impl Analytics {
    pub async fn get_projection_status(&self) -> Result<pb::GetProjectionStatusResponse> {
        let progress = store::progress(&self.db).await?;
        let mut streams = Vec::new();
        for stream in crate::STREAMS {
            let mine = progress.iter().find(|p| p.stream == stream);
            // JetStream may be unreachable; the tables still tell what was applied.
            let info = match self.jetstream.get_stream(stream).await {
                Ok(s) => s.consumer_info(crate::CONSUMER).await.ok(),
                Err(_) => None,
            };
            streams.push(pb::StreamProgress {
                stream: stream.to_owned(),
                consumer: crate::CONSUMER.to_owned(),
                last_applied_sequence: info.as_ref().map(|i| i.ack_floor.stream_sequence).unwrap_or(0),
                last_event_time: mine.map(|p| timestamp(p.last_event_us)),
                pending: info.as_ref().map(|i| i.num_pending).unwrap_or(0),
            });
        }
        Ok(pb::GetProjectionStatusResponse {
            streams,
            rebuilding: store::meta(&self.db, store::META_REBUILD_STARTED).await?.is_some(),
            as_of_time: self.as_of().await?,
        })
    }
}
